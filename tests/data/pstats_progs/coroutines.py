import asyncio


def echo():
    received = []
    while True:
        try:
            v = yield len(received)
        except ValueError:
            received.append(None)
            continue
        if v is None:
            break
        received.append(v)
    return received


def relay():
    result = yield from echo()
    return len(result)


def drive():
    g = relay()
    next(g)
    for i in range(10):
        g.send(i)
    g.throw(ValueError)
    try:
        g.send(None)
    except StopIteration as e:
        return e.value


async def leaf(i):
    await asyncio.sleep(0)
    return i


async def branch(n):
    total = 0
    for i in range(n):
        total += await leaf(i)
    return total


async def amain():
    return sum(await asyncio.gather(*(branch(k) for k in range(4))))


def main():
    for _ in range(3):
        drive()
    asyncio.run(amain())


main()
