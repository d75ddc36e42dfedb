import functools


def traced(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)
    return wrapper


@traced
def square(x):
    return x * x


@traced
def countdown(n):
    return n if n <= 0 else countdown(n - 1)


def make_adder(k):
    def adder(x):
        return x + k
    return adder


def main():
    total = 0
    for i in range(40):
        total += square(i)
    countdown(15)
    adders = [make_adder(k) for k in range(5)]
    for a in adders:
        total += a(1)
    # two lambdas on one line: one pstats key, two code objects (cProfile merges them
    # but counts recursion per code object)
    inc, dbl = (lambda v: v + 1), (lambda v: v * 2)
    for i in range(10):
        total += inc(dbl(i))
    ping = lambda n: n and pong(n - 1); pong = lambda n: n and ping(n - 1)
    ping(9)
    return total


main()
