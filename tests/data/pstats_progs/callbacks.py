import functools


class Node:
    def __init__(self, depth):
        self.children = [Node(depth - 1) for _ in range(2)] if depth else []


def walk(node):
    # recursion through a builtin: walk -> sum -> map -> walk
    return 1 + sum(map(walk, node.children))


def key(x):
    return (x % 7, -x)


def add(a, b):
    return a + b


def main():
    tree = Node(6)
    total = walk(tree)
    data = sorted(range(200), key=key)
    evens = list(filter(lambda v: v % 2 == 0, data))
    total += functools.reduce(add, evens, 0)
    total += max(range(50), key=lambda v: -v)
    return total


main()
