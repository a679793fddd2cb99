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
