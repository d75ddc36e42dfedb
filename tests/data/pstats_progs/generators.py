def count_up(n):
    i = 0
    while i < n:
        yield i
        i += 1

def squares(n):
    for v in count_up(n):
        yield v * v

def consume():
    total = 0
    for v in squares(50):
        total += v
    total += sum(count_up(30))
    total += sum(x for x in range(25))
    return total

def main():
    for _ in range(4):
        consume()

main()
