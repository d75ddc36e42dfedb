def is_even(n):
    return True if n == 0 else is_odd(n - 1)

def is_odd(n):
    return False if n == 0 else is_even(n - 1)

def ping(n):
    if n > 0:
        pong(n - 1)

def pong(n):
    if n > 0:
        ping(n - 1)
        ping(n // 2)

def main():
    r = [is_even(k) for k in range(40)]
    for k in range(12):
        ping(k)
    return r

main()
