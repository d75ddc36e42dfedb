import math

def work(data):
    n = len(data)
    s = sorted(data, key=lambda x: -x)
    m = max(data)
    ok = isinstance(n, int)
    r = math.sqrt(abs(m))
    return n, s[0], m, ok, r

def main():
    data = list(range(200))
    for _ in range(30):
        work(data)
    print(len(str(sum(data))), file=open(__import__('os').devnull, 'w'))

main()
