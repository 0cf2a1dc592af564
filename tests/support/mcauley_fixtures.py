"""Small but faithful fixture files in the McAuley et al. 2014 Amazon formats (snap.stanford.edu).

:func:`write_mcauley_fixture` writes, into one folder, the two files a ``mcauley-2014`` source reads:

``reviews_<Category>_5.json.gz``
    gzip; one strict JSON object per line with the keys, in this order, ``reviewerID``, ``asin``,
    ``reviewerName`` (absent on some lines, as in the real files), ``helpful`` ([helpful, total]),
    ``reviewText``, ``overall`` (float 1.0-5.0), ``summary``, ``unixReviewTime`` (int, midnight UTC
    of the day) and ``reviewTime`` (``"MM D, YYYY"``, e.g. ``"03 7, 2013"``). Lines are grouped by
    ``asin`` like the real files, so file order is *not* chronological.

``meta_<Category>.json.gz``
    gzip; one *Python literal* dict per line (single quotes; ``ast.literal_eval``, not ``json``)
    with ``asin``, ``title``, ``price`` (float), ``imUrl``, ``related`` (also_bought /
    also_viewed / bought_together), ``salesRank``, ``brand`` and ``categories`` (list of lists).
    As in the real files some items lack ``price`` or ``brand``, one title contains an apostrophe
    (so ``repr`` writes that string in double quotes), and a few items have metadata but no review.

With the defaults the data is built to be checked exactly after 5-core filtering:

* 40 *core* users × 30 *core* items; every core user has ≥ 6 distinct core items and every core
  item ≥ 6 core users, so the 5-core keeps all of them and only them;
* 2 *sparse* users (2 reviews each, of core items) and 2 *sparse* items (2 reviews each, by core
  users) that any k-core with k ≥ 3 removes; removing them never drops a core user or item
  below 6;
* several users have two reviews with the same ``unixReviewTime`` (ties; see ``tie_users``);
* optional malformed lines (``malformed_reviews`` / ``malformed_meta``) are inserted as *extra*
  lines, so the counts above do not change; their 1-based line numbers are returned.

The same ``seed`` always gives byte-identical files (gzip mtime is 0), so checksums are stable.
"""

from __future__ import annotations

import gzip
import json
import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

_EPOCH = datetime(2012, 1, 1, tzinfo=timezone.utc)
_GAPS_DAYS = (0, 1, 2, 5, 14, 30, 90)  # a 0 gap is a same-day tie, common in the real data
_BROKEN_REVIEWS = ('{"reviewerID": "A3BROKENLINE01", "asin": "B00', "this line is not json at all")
_BROKEN_META = ("{'asin': 'B00BROKEN01', 'title': 'Unterminated", "{'asin': 'B00BROKEN02', 'title': undefined_name}")


def reviews_name(category: str) -> str:
    return f"reviews_{category}_5.json.gz"


def meta_name(category: str) -> str:
    return f"meta_{category}.json.gz"


@dataclass(frozen=True)
class McAuleyFixture:
    """What was written, and what a correct reader + 5-core must find."""

    reviews: Path
    meta: Path
    core_users: frozenset[str]  # reviewerIDs that survive the 5-core
    core_items: frozenset[str]  # asins that survive the 5-core
    n_core_interactions: int  # reviews between core users and core items
    sparse_users: frozenset[str]
    sparse_items: frozenset[str]
    meta_only_items: frozenset[str]  # in the meta file, never reviewed
    tie_users: frozenset[str]  # core users with ≥ 2 reviews on the same unixReviewTime
    n_valid_reviews: int  # well-formed review lines (all users and items)
    malformed_review_lines: tuple[int, ...]  # 1-based line numbers in the decompressed file
    malformed_meta_lines: tuple[int, ...]


def write_mcauley_fixture(
    folder: Path,
    category: str = "Sports_and_Outdoors",
    *,
    n_users: int = 40,
    n_items: int = 30,
    min_interactions: int = 6,
    n_sparse: int = 2,
    n_meta_only: int = 2,
    malformed_reviews: int = 0,
    malformed_meta: int = 0,
    seed: int = 0,
) -> McAuleyFixture:
    """Write ``reviews_<category>_5.json.gz`` and ``meta_<category>.json.gz`` into ``folder``.

    Args:
        folder: created if needed.
        category: the file-name category, e.g. ``"Sports_and_Outdoors"`` or ``"Beauty"``.
        n_users: core users (each with ≥ ``min_interactions`` distinct core items).
        n_items: core items (each with ≥ ``min_interactions`` distinct core users).
        min_interactions: lower bound on both sides; 6 survives a 5-core with room to spare.
        n_sparse: sparse users and, separately, sparse items (2 reviews each) that a k-core removes.
        n_meta_only: items that appear only in the meta file.
        malformed_reviews: broken lines inserted among the review lines.
        malformed_meta: broken lines inserted among the meta lines.
        seed: everything random (ids, times, ratings, order of extras) follows from it.
    """
    if not (min_interactions <= n_items and min_interactions <= n_users):
        raise ValueError(f"min_interactions={min_interactions} needs n_users and n_items at least as large")
    rng = random.Random(seed)
    users = _unique_ids(rng, "A", 14, n_users + n_sparse)
    items = _unique_ids(rng, "B00", 10, n_items + n_sparse + n_meta_only)
    core_users, sparse_users = users[:n_users], users[n_users:]
    core_items, sparse_items = items[:n_items], items[n_items : n_items + n_sparse]
    meta_only = items[n_items + n_sparse :]

    core_pairs = _core_pairs(rng, core_users, core_items, min_interactions)
    pairs = {user: set(chosen) for user, chosen in core_pairs.items()}
    for user in sparse_users:
        pairs[user] = set(rng.sample(core_items, 2))
    for item in sparse_items:
        for user in rng.sample(core_users, 2):
            pairs[user].add(item)

    reviews, tie_users = _reviews(rng, pairs, set(core_users))
    review_lines = [json.dumps(review) for review in sorted(reviews, key=lambda r: (r["asin"], r["unixReviewTime"]))]
    meta_lines = [repr(_meta(rng, asin, i, category, items)) for i, asin in enumerate(items)]
    rng.shuffle(meta_lines)
    bad_reviews = _insert(rng, review_lines, _BROKEN_REVIEWS, malformed_reviews)
    bad_meta = _insert(rng, meta_lines, _BROKEN_META, malformed_meta)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reviews_path = _write_gzip(folder / reviews_name(category), review_lines)
    meta_path = _write_gzip(folder / meta_name(category), meta_lines)
    return McAuleyFixture(
        reviews=reviews_path,
        meta=meta_path,
        core_users=frozenset(core_users),
        core_items=frozenset(core_items),
        n_core_interactions=sum(len(chosen) for chosen in core_pairs.values()),
        sparse_users=frozenset(sparse_users),
        sparse_items=frozenset(sparse_items),
        meta_only_items=frozenset(meta_only),
        tie_users=frozenset(tie_users),
        n_valid_reviews=len(reviews),
        malformed_review_lines=bad_reviews,
        malformed_meta_lines=bad_meta,
    )


def _unique_ids(rng: random.Random, prefix: str, length: int, count: int) -> list[str]:
    alphabet = string.ascii_uppercase + string.digits
    ids: dict[str, None] = {}
    while len(ids) < count:
        ids["".join([prefix, *rng.choices(alphabet, k=length - len(prefix))])] = None
    return list(ids)


def _core_pairs(rng: random.Random, users: list[str], items: list[str], k: int) -> dict[str, set[str]]:
    # A sliding window gives every user k items; items then short of k users get random extra users.
    pairs = {user: {items[(u + j) % len(items)] for j in range(k)} for u, user in enumerate(users)}
    for user in users:
        pairs[user].update(rng.sample(items, rng.randint(0, 3)))
    for item in items:
        holders = [user for user in users if item in pairs[user]]
        others = [user for user in users if item not in pairs[user]]
        for user in rng.sample(others, max(0, k - len(holders))):
            pairs[user].add(item)
    return pairs


def _reviews(rng: random.Random, pairs: dict[str, set[str]], core: set[str]) -> tuple[list[dict], list[str]]:
    reviews, tie_users = [], []
    for u, (user, chosen) in enumerate(pairs.items()):
        name = None if u % 9 == 4 else f"{rng.choice(_FIRST)} {rng.choice(string.ascii_uppercase)}."
        day = rng.randint(0, 700)
        days = []
        order = sorted(chosen)  # sets iterate in hash order, which varies between processes
        rng.shuffle(order)
        for i, asin in enumerate(order):
            # Every fourth user's first two reviews share a day, so ties are guaranteed.
            gap = 0 if (i == 1 and u % 4 == 0) else (rng.choice(_GAPS_DAYS) if i else 0)
            day += gap
            days.append(day)
            reviews.append(_review(rng, user, name, asin, day))
        if user in core and len(set(days)) < len(days):
            tie_users.append(user)
    return reviews, tie_users


_FIRST = ("Alex", "Sam", "Jordan", "Chris", "Pat", "Robin", "Taylor", "Casey", "Jamie", "Morgan")
_TEXTS = (
    'Works as described. My son said it was "the best gift ever".',
    "Sturdy, light and easy to carry; would buy again.",
    "It broke after two weeks of use. Disappointed.",
    "Good value for the price, though the straps are a bit short.",
)


def _review(rng: random.Random, user: str, name: str | None, asin: str, day: int) -> dict:
    when = _EPOCH + timedelta(days=day)
    total = rng.randint(0, 5)
    review = {"reviewerID": user, "asin": asin}
    if name is not None:
        review["reviewerName"] = name
    review.update(
        helpful=[rng.randint(0, total), total],
        reviewText=rng.choice(_TEXTS),
        overall=float(rng.randint(1, 5)),
        summary=rng.choice(("Great", "Okay", "Not for me", "Five stars")),
        unixReviewTime=int(when.timestamp()),
        reviewTime=f"{when.month:02d} {when.day}, {when.year}",
    )
    return review


def _meta(rng: random.Random, asin: str, index: int, category: str, items: list[str]) -> dict:
    top = category.replace("_and_", " & ").replace("_", " ")
    title = "Men's Trail Running Shorts" if index == 1 else f"{top} Product {index} &amp; Accessories"
    entry: dict = {"asin": asin, "title": title}
    if index % 7 != 3:
        entry["price"] = round(rng.uniform(2.5, 250.0), 2)
    entry["imUrl"] = f"http://ecx.images-amazon.com/images/I/{asin[1:]}L._SY300_.jpg"
    others = [other for other in items if other != asin]
    entry["related"] = {
        "also_bought": rng.sample(others, 3),
        "also_viewed": rng.sample(others, 2),
        "bought_together": rng.sample(others, 1),
    }
    entry["salesRank"] = {top: rng.randint(1, 500_000)}
    if index % 5 != 2:
        entry["brand"] = rng.choice(("Coleman", "Nike", "Under Armour", "Generic"))
    entry["categories"] = [[top, rng.choice(("Outdoor Recreation", "Fan Shop", "Exercise & Fitness")), "Accessories"]]
    if index % 3 == 0:
        entry["categories"].append([top, "Clothing"])
    return entry


def _insert(rng: random.Random, lines: list[str], broken: tuple[str, ...], count: int) -> tuple[int, ...]:
    for i in range(count):
        lines.insert(rng.randint(0, len(lines)), broken[i % len(broken)])
    return tuple(n + 1 for n, line in enumerate(lines) if line in broken)


def _write_gzip(path: Path, lines: list[str]) -> Path:
    # mtime=0 and no embedded name: the same seed gives byte-identical files.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write("".join(line + "\n" for line in lines).encode("utf-8"))
    return path
