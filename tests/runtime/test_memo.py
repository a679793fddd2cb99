"""Process-wide memos stay bounded and keep the newest entries."""

from runtime._memo import remember


def test_memo_drops_the_oldest_past_its_limit() -> None:
    memo: dict[int, int] = {}
    for i in range(10):
        remember(memo, i, i * i, limit=4)
    assert memo == {6: 36, 7: 49, 8: 64, 9: 81}
    remember(memo, 6, 0, limit=4)  # a refreshed key becomes the newest
    remember(memo, 10, 100, limit=4)
    assert list(memo) == [8, 9, 6, 10]


def test_parsed_signatures_stay_bounded_and_keep_serving_new_documents() -> None:
    from runtime import _load

    _load._STORED.clear()
    sig = {"inputs": [{"name": "x", "dtype": "float32", "shape": [None, 2]}], "outputs": []}
    docs = [dict(sig) for _ in range(_load._STORED_MAX + 5)]
    parsed = [_load._stored_signature(d) for d in docs]
    assert len(_load._STORED) == _load._STORED_MAX
    # the newest document is remembered (before, the memo stopped taking entries when full)
    assert _load._stored_signature(docs[-1]) is parsed[-1]
    assert _load._stored_signature(docs[0]) is not parsed[0]  # dropped, parsed again
