"""A small text-processing program for the pyflame-c demo.

It builds a synthetic corpus, tokenizes it, counts words and bigrams, renders a
report through json, and does a little recursive work in a background thread, so
the flame graph shows several distinct hot paths.  Runs in about a second.
"""
import json
import random
import re
import threading
from collections import Counter

WORDS = ("profile flame graph stack frame python memory line call trace sample "
         "review slow fast fat hot cold parser render convert collector").split()
TOKEN = re.compile(r"[a-z]+")


def make_corpus(n_sentences, seed=1):
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 15))]
        sentences.append(" ".join(words).capitalize() + ".")
    return "\n".join(sentences)


def tokenize(text):
    return TOKEN.findall(text.lower())


def count_words(tokens):
    counts = {}
    for tok in tokens:
        counts[tok] = counts.get(tok, 0) + 1
    return counts


def count_bigrams(tokens):
    return Counter(zip(tokens, tokens[1:]))


def render(word_counts, bigrams):
    top = sorted(word_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    doc = {"top_words": top,
           "top_bigrams": [[" ".join(k), v] for k, v in bigrams.most_common(5)]}
    return json.dumps(doc, indent=2)


def partitions(n, largest=None):
    """Number of integer partitions of n, the slow recursive way."""
    if largest is None:
        largest = n
    if n == 0:
        return 1
    return sum(partitions(n - k, k) for k in range(1, min(n, largest) + 1))


def background(result):
    result.append(partitions(45))


def main():
    result = []
    worker = threading.Thread(target=background, args=(result,), name="partitions")
    worker.start()
    text = make_corpus(20000)
    tokens = tokenize(text)
    words = count_words(tokens)
    bigrams = count_bigrams(tokens)
    report = render(words, bigrams)
    worker.join()
    print(report.splitlines()[0], "...", len(tokens), "tokens;", "p(45) =", result[0])


if __name__ == "__main__":
    main()
