def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)

def main():
    total = 0
    for i in range(3):
        total += fib(12 + i)
    for i in range(20):
        total += fact(i)
    return total

main()
