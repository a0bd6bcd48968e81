# "twin" equals "quote" in Python's sense (1 == 1.0) and is never produced: adding it
# takes a "quote", which prints with price=1.
# Writes repr_edge_cases.json and its .ref.out with CPython's own dataclass repr as the oracle.
import json
from dataclasses import dataclass

@dataclass(frozen=True)
class Product:
    name: str
    price: int

@dataclass(frozen=True)
class Tea(Product):
    type: str

@dataclass(frozen=True)
class Coffee(Product):
    acidity: str
    roast_level: str

text = r'''{
    "products": {
        "quote": {"product_type": "Tea", "name": "Grandma's", "price": 1, "type": "Herbal"},
        "both": {"product_type": "Tea", "name": "it's \"fine\"", "price": -0, "type": "a\\b"},
        "dq": {"product_type": "Tea", "name": "say \"hi\"", "price": -17, "type": "tab\there"},
        "ctrl": {"product_type": "Tea", "name": "new\nline\r\u0000\u001f\u007f", "price": 123456789012345678901234567890, "type": "x"},
        "uni": {"product_type": "Tea", "name": "caf\u00e9 \u65e5\u672c \ud83c\udf75", "price": 3, "type": "nb\u00a0sp zw\u200bj \u2028 \ue000 \udb40\udc01 \u00ad"},
        "f1": {"product_type": "Coffee", "name": "Robusta", "price": 5.0, "acidity": 5, "roast_level": "DARK"},
        "f2": {"product_type": "Coffee", "name": "Tiny", "price": 1e-05, "acidity": 1E16, "roast_level": "LIGHT"},
        "f3": {"product_type": "Coffee", "name": "Huge", "price": 1e400, "acidity": -1e400, "roast_level": ""},
        "f4": {"product_type": "Coffee", "name": "Long", "price": 0.1, "acidity": 1234567890123456.7, "roast_level": "M"},
        "f5": {"product_type": "Coffee", "name": "Exp", "price": 12345678901234567.0, "acidity": 2.5e-7, "roast_level": "M"},
        "f6": {"product_type": "Coffee", "name": "Neg", "price": -0.0, "acidity": 0.0001, "roast_level": "M"},
        "twin": {"product_type": "Tea", "name": "Grandma's", "price": 1.0, "type": "Herbal"}
    },
    "producers": [
        {"name": "p1", "products": [["quote", 1, 0], ["both", 1, 0], ["dq", 1, 0], ["ctrl", 1, 0], ["uni", 1, 0]], "republish_wait_time": 0},
        {"name": "p2", "products": [["f1", 1, 0], ["f2", 1, 0], ["f3", 1, 0], ["f4", 1, 0], ["f5", 1, 0], ["f6", 1, 0]], "republish_wait_time": 0}
    ],
    "consumers": [
        {"name": "c1", "retry_wait_time": 0, "carts": [
            {"ops": [{"type": "add", "product": "quote", "quantity": 2}, {"type": "add", "product": "both", "quantity": 1},
                     {"type": "add", "product": "twin", "quantity": 1}, {"type": "add", "product": "dq", "quantity": 1}, {"type": "add", "product": "ctrl", "quantity": 1},
                     {"type": "add", "product": "uni", "quantity": 1}],
             "expected_cart": {"quote": 3, "both": 1, "dq": 1, "ctrl": 1, "uni": 1}}
        ]},
        {"name": "c2", "retry_wait_time": 0, "carts": [
            {"ops": [{"type": "add", "product": "f1", "quantity": 1}, {"type": "add", "product": "f2", "quantity": 1},
                     {"type": "add", "product": "f3", "quantity": 1}, {"type": "add", "product": "f4", "quantity": 1},
                     {"type": "add", "product": "f5", "quantity": 1}, {"type": "add", "product": "f6", "quantity": 1}],
             "expected_cart": {"f1": 1, "f2": 1, "f3": 1, "f4": 1, "f5": 1, "f6": 1}}
        ]}
    ],
    "marketplace": {"queue_size_per_producer": 10}
}
'''
d = json.loads(text)
classes = {"Tea": Tea, "Coffee": Coffee}
objs = {}
for pid, p in d["products"].items():
    p = dict(p)
    cls = classes[p.pop("product_type")]
    objs[pid] = cls(**p)
lines = []
for c in d["consumers"]:
    for cart in c["carts"]:
        for pid, n in cart["expected_cart"].items():
            lines += [f"{c['name']} bought {objs[pid]}"] * n
out = sorted(x.strip() + ")" for x in "\n".join(lines).split(")") if x.strip())
open("repr_edge_cases.json", "w", encoding="utf-8").write(text)
open("repr_edge_cases.ref.out", "w", encoding="utf-8").write("\n".join(out) + "\n")
print("\n".join(out))
assert objs["quote"] == objs["twin"]
