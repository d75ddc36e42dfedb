class Bag:
    def __init__(self):
        self.items = []
        self.index = {}

    def add(self, k, v):
        self.items.append(v)
        self.index[k] = self.index.get(k, 0) + 1

    @property
    def size(self):
        return len(self.items)

    @staticmethod
    def render(words):
        return ", ".join(words).upper().split(",")

def main():
    b = Bag()
    for i in range(300):
        b.add(i % 17, i)
    words = [str(i) for i in range(50)]
    for _ in range(20):
        Bag.render(words)
    seen = set()
    for w in words:
        seen.add(w)
    return b.size, len(seen)

main()
