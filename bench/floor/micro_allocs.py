"""callgrind input: small allocations (lists and dicts made and dropped)."""
def churn(n):
    keep = None
    for i in range(n):
        a = [i, i + 1]
        b = {"k": a}
        keep = (a, b)
    return keep
churn(20000)
