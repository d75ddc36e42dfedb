class Oops(Exception):
    pass

def deep(n):
    if n == 0:
        raise Oops("bottom")
    deep(n - 1)

def risky(i):
    if i % 3 == 0:
        raise ValueError(i)
    return i

def parse(s):
    try:
        return int(s)
    except ValueError:
        return -1

def main():
    caught = 0
    for i in range(60):
        try:
            risky(i)
        except ValueError:
            caught += 1
    for i in range(10):
        try:
            deep(5)
        except Oops:
            caught += 1
    vals = [parse(s) for s in ["1", "x", "22", "y", "333"] * 8]
    d = {}
    for k in range(30):
        try:
            d[k]
        except KeyError:
            d[k] = k
    return caught, vals

main()
