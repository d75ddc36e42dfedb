"""callgrind input: calls only (naive fib, 28,655 Python calls)."""
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
fib(20)
