import threading

def before(n):
    return sum(range(n))

def wstep(i):
    return i * 2

def worker(n):
    t = 0
    for i in range(n):
        t += wstep(i)
    return t

def main():
    for _ in range(5):
        before(100)
    ts = [threading.Thread(target=worker, args=(200,)) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

main()
