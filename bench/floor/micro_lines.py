"""callgrind input: line events (an arithmetic loop in one function)."""
def work(n):
    total = 0.0
    for i in range(n):
        x = i * 0.5
        y = x * x - i
        total += y / (i + 1)
    return total
work(20000)
