"""The offline selection provider: deterministic, no network, decided from what media_process measured.

1. **Quality** per item in 0..1 (``quality``): photos by sharpness (log scale), exposure (distance of the mean
   luma from mid-grey), clipping (pure black and white pixels), colour cast and resolution; videos by their
   luma (mean and spread) and duration (5-15 s preferred; shorter and longer lose).
2. **Bursts**: two photos are near-duplicates when their perceptual hashes differ by at most
   ``BURST_PHASH`` bits and they were taken within ``BURST_WINDOW_S`` of each other (at most
   ``BURST_PHASH_UNTIMED`` bits when either capture time is unknown); bursts are the connected groups, and
   each collapses to its best-quality shot.
3. **Scenes**: items in capture-time order (the untimed after, by name); a new scene starts at a gap of
   ``SCENE_GAP_S`` or more, or ``SCENE_DISTANCE_M`` or more from the scene's last known position; where the
   time or the place of either item is unknown, at a visual distance (perceptual hash) of ``SCENE_PHASH``
   bits or more from every photo of the scene so far.
4. **Picks**: the best of each scene first (best scenes first), then by quality less ``DIVERSITY`` for each
   pick its scene already has, up to the count. With ``count`` None ("all") every item is ranked and nothing
   is collapsed: the distinct shots first as above, then the near-duplicates, each naming its burst's best.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Sequence

import msgspec

from services.selection.selection_provider import SelectionAnswer, SelectionItem
from shared.events import catalogue as c
from shared.events.selection_results import Exclusion, Pick, SceneGroup

#: near-duplicate photos: perceptual hashes at most this many bits apart (media_process: <= 10 is a
#: near-duplicate; the evaluation's crops, shifts and exposure steps measured up to 8)
BURST_PHASH = 12
#: ... taken at most this far apart (a burst, or the same subject shot again a moment later)
BURST_WINDOW_S = 120.0
#: without a capture time on either, only near-identical looks count
BURST_PHASH_UNTIMED = 6
#: a capture-time gap that starts a new scene
SCENE_GAP_S = 2 * 3600.0
#: a distance from the scene's last known position that starts a new scene
SCENE_DISTANCE_M = 1000.0
#: visual distance (perceptual-hash bits of 64) that starts a new scene where time or place is unknown:
#: unrelated photos differ by ~32 bits on average, shots of one subject by fewer
SCENE_PHASH = 26
#: quality taken off an item for each pick its scene already has
DIVERSITY = 0.15
#: a pick "edged out" a rival of its scene whose quality was within this much
NEAR_RIVAL = 0.05

#: sharpness (media_process's contrast-normalised measure at ~1000 px) mapped to 0..1 on a log scale
SHARP_LOW, SHARP_HIGH = 0.005, 1.0
#: resolution in megapixels mapped to 0..1 on a log scale
MP_LOW, MP_HIGH = 0.3, 12.0
#: the preferred video length
VIDEO_BEST_S = (5.0, 15.0)


def _unit(x: float) -> float:
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)  # not min/max: this runs per item and signal


def _log_unit(value: float, low: float, high: float) -> float:
    if value <= low:
        return 0.0
    return _unit(math.log(value / low) / math.log(high / low))


class Quality(msgspec.Struct, frozen=True, kw_only=True):
    score: float  # 0..1
    sharpness: float | None = None  # the photo's measured sharpness, for reasons
    notes: tuple[str, ...] = ()  # what stands out ("sharp", "well exposed", "clipped highlights")


def quality(item: SelectionItem) -> Quality:
    """The item's quality in 0..1 from its measured signals (0.3 when nothing was measured)."""
    if item.photo is not None:
        return _photo_quality(item.photo, item.metadata)
    if item.video is not None:
        return _video_quality(item.video)
    return Quality(score=0.3, notes=("no quality signals",))


def _photo_quality(s: c.PhotoSignals, m: c.MediaMetadata) -> Quality:
    sharp = _log_unit(s.sharpness, SHARP_LOW, SHARP_HIGH)
    exposure = _unit(1.0 - abs(s.exposure_mean - 0.45) / 0.45)
    clipping = _unit(1.0 - 3.0 * (s.shadows_clipped + s.highlights_clipped))
    cast = _unit(1.0 - s.colour_cast / 30.0)
    pixels = (m.width or 0) * (m.height or 0)
    resolution = _log_unit(pixels / 1e6, MP_LOW, MP_HIGH) if pixels else 0.5
    score = 0.45 * sharp + 0.2 * exposure + 0.15 * clipping + 0.1 * cast + 0.1 * resolution
    notes = [
        "sharp" if sharp >= 0.5 else "soft",
        "well exposed" if exposure >= 0.6 else ("dark" if s.exposure_mean < 0.45 else "bright"),
    ]
    if clipping < 0.7:
        notes.append("clipped shadows or highlights")
    if cast < 0.5:
        notes.append("a colour cast")
    return Quality(score=round(score, 4), sharpness=s.sharpness, notes=tuple(notes))


def _video_quality(v: c.VideoSignals) -> Quality:
    low, high = VIDEO_BEST_S
    d = v.duration_s
    duration = 1.0 if low <= d <= high else (_unit(d / low) if d < low else _unit(math.sqrt(high / d)))
    exposure = _unit(1.0 - abs(v.luma_mean - 0.45) / 0.45)
    contrast = _unit(v.luma_spread / 0.3)
    score = 0.9 * (0.4 * duration + 0.3 * exposure + 0.3 * contrast)
    if v.near_uniform:
        score *= 0.2
    notes = [f"{d:.0f} s" + (" (a good length)" if duration == 1.0 else "")]
    if v.near_uniform:
        notes.append("near-uniform footage")
    return Quality(score=round(score, 4), notes=tuple(notes))


# --------------------------------------------------------------------------- time, place, look
def _seconds(t: dt.datetime | None) -> float | None:
    """Seconds on one axis: aware times as UTC, naive ones (local time) as if UTC."""
    if t is None:
        return None
    return t.timestamp() if t.tzinfo is not None else (t - _EPOCH).total_seconds()


_EPOCH = dt.datetime(1970, 1, 1)


def distance_m(a: c.GeoPoint, b: c.GeoPoint) -> float:
    """Great-circle (haversine) distance in metres."""
    la1, la2 = math.radians(a.lat), math.radians(b.lat)
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    )
    return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(h)))


def _phash(item: SelectionItem) -> int | None:
    if item.photo is None:
        return None
    try:
        return int(item.photo.phash, 16)
    except ValueError:
        return None


class _Item:
    """What the algorithm keeps per candidate (plain attributes: this runs over thousands of items)."""

    __slots__ = ("burst", "gps", "hash", "i", "item", "q", "scene", "t")

    def __init__(self, i: int, item: SelectionItem) -> None:
        self.i, self.item = i, item
        self.q = quality(item)
        self.t = _seconds(item.metadata.captured_at)
        self.gps = item.metadata.gps
        self.hash = _phash(item)
        self.burst = i  # the index of its burst's best shot (itself when alone or best)
        self.scene = 0


def _bits(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _bursts(items: list[_Item]) -> None:
    """Sets each item's ``burst`` to its burst's best shot (union-find over near-duplicate pairs)."""
    parent = list(range(len(items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    timed = sorted((x for x in items if x.t is not None and x.hash is not None), key=lambda x: x.t or 0.0)
    for n, a in enumerate(timed):
        assert a.t is not None and a.hash is not None
        for b in timed[n + 1 :]:
            assert b.t is not None and b.hash is not None
            if b.t - a.t > BURST_WINDOW_S:
                break
            if _bits(a.hash, b.hash) <= BURST_PHASH:
                parent[find(a.i)] = find(b.i)
    untimed = [x for x in items if x.t is None and x.hash is not None]
    hashed = [x for x in items if x.hash is not None]
    for a in untimed:
        assert a.hash is not None
        for b in hashed:
            if b is not a and b.hash is not None and _bits(a.hash, b.hash) <= BURST_PHASH_UNTIMED:
                parent[find(a.i)] = find(b.i)
    best: dict[int, _Item] = {}
    for x in items:
        root = find(x.i)
        if root not in best or (x.q.score, -x.i) > (best[root].q.score, -best[root].i):
            best[root] = x
    for x in items:
        x.burst = best[find(x.i)].i


def _scenes(items: list[_Item]) -> list[list[_Item]]:
    """Items split into scenes, in capture order (untimed last, by name)."""
    ordered = sorted(items, key=lambda x: (x.t is None, x.t or 0.0, x.item.name, x.item.key))
    scenes: list[list[_Item]] = []
    last_t: float | None = None
    last_gps: c.GeoPoint | None = None
    hashes: list[int] = []
    for x in ordered:
        split = False
        if scenes:
            time_known = x.t is not None and last_t is not None
            place_known = x.gps is not None and last_gps is not None
            if time_known and x.t is not None and last_t is not None and x.t - last_t >= SCENE_GAP_S:
                split = True
            elif place_known and x.gps is not None and last_gps is not None:
                split = distance_m(last_gps, x.gps) >= SCENE_DISTANCE_M
            if not split and not (time_known and place_known) and x.hash is not None and hashes:
                split = min(_bits(x.hash, h) for h in hashes) >= SCENE_PHASH
        if split or not scenes:
            scenes.append([])
            last_gps, hashes = None, []
        scenes[-1].append(x)
        x.scene = len(scenes) - 1
        last_t = x.t if x.t is not None else last_t
        last_gps = x.gps if x.gps is not None else last_gps
        if x.hash is not None:
            hashes.append(x.hash)
    return scenes


def _group(n: int, scene: list[_Item]) -> SceneGroup:
    timed = [x for x in scene if x.t is not None]  # in capture order (the scene's order)
    start = timed[0].item.metadata.captured_at if timed else None
    end = timed[-1].item.metadata.captured_at if timed else None
    points = [x.gps for x in scene if x.gps is not None]
    place = (
        c.GeoPoint(
            lat=round(sum(p.lat for p in points) / len(points), 6),
            lon=round(sum(p.lon for p in points) / len(points), 6),
        )
        if points
        else None
    )
    label = f"Scene {n + 1}"
    if start is not None and end is not None:
        span = f"{start:%Y-%m-%d %H:%M}" + (f"–{end:%H:%M}" if end != start else "")
        label += f" · {span}"
    if place is not None:
        label += f" · near {place.lat:.4f}, {place.lon:.4f}"
    return SceneGroup(
        id=f"s{n + 1}", label=label, start=start, end=end, place=place, items=[x.item.key for x in scene]
    )


def _rank(pool: list[_Item], scenes: int, limit: int) -> list[_Item]:
    """Best of each scene first (best scenes first), then by quality less ``DIVERSITY`` per pick its scene
    has (a lazy heap: an item's key only goes down when its scene gains a pick)."""
    best: dict[int, _Item] = {}
    for x in pool:
        if x.scene not in best or x.q.score > best[x.scene].q.score:
            best[x.scene] = x
    firsts = sorted(best.values(), key=lambda x: (-x.q.score, x.i))[:limit]
    picked = {x.i for x in firsts}
    counts = [0] * scenes
    for x in firsts:
        counts[x.scene] += 1
    out = list(firsts)
    heap = [(-(x.q.score - DIVERSITY * counts[x.scene]), x.i, counts[x.scene], x) for x in pool]
    heap = [h for h in heap if h[3].i not in picked]
    heapq.heapify(heap)
    while heap and len(out) < limit:
        _, i, seen, x = heapq.heappop(heap)
        if seen != counts[x.scene]:  # its scene gained a pick since: re-queue at its new key
            heapq.heappush(heap, (-(x.q.score - DIVERSITY * counts[x.scene]), i, counts[x.scene], x))
            continue
        out.append(x)
        counts[x.scene] += 1
    return out


class OfflineSelection:
    """Deterministic and network-free: ranks by measured quality, collapses bursts, covers scenes."""

    @property
    def name(self) -> str:
        return "offline"

    async def select(
        self, items: Sequence[SelectionItem], *, context: str, count: int | None
    ) -> SelectionAnswer:
        return self.decide(items, count=count)

    def decide(self, items: Sequence[SelectionItem], *, count: int | None) -> SelectionAnswer:
        """The selection of ``items`` (see the module's docstring)."""
        xs = [_Item(i, item) for i, item in enumerate(items)]
        _bursts(xs)
        scenes = _scenes(xs)
        groups = [_group(n, s) for n, s in enumerate(scenes)]
        distinct = [x for x in xs if x.burst == x.i]
        copies = [x for x in xs if x.burst != x.i]
        if count is None:
            ranked = _rank(distinct, len(scenes), len(distinct))
            ranked += sorted(copies, key=lambda x: (-x.q.score, x.i))
        else:
            ranked = _rank(distinct, len(scenes), count)
        picked = {x.i for x in ranked}
        rivals = _rivals(xs, picked)
        scene_picks = [0] * len(scenes)
        selected: list[Pick] = []
        for rank, x in enumerate(ranked, start=1):
            first = scene_picks[x.scene] == 0
            scene_picks[x.scene] += 1
            selected.append(
                Pick(
                    key=x.item.key,
                    name=x.item.name,
                    rank=rank,
                    scene=groups[x.scene].id,
                    reason=_pick_reason(x, first, xs, groups[x.scene]),
                    comparison=None if x.burst != x.i else _comparison(x, rivals.get(x.i, [])),
                    duplicate_of=xs[x.burst].item.key if x.burst != x.i else None,
                )
            )
        lowest = ranked[-1].q.score if ranked else None
        excluded = [
            _exclusion(x, xs, groups[x.scene], scene_picks[x.scene], lowest) for x in xs if x.i not in picked
        ]
        return SelectionAnswer(selected=selected, excluded=excluded, scene_groups=groups)


def _rivals(xs: list[_Item], picked: set[int]) -> dict[int, list[_Item]]:
    """Per pick that is its burst's best: the near-duplicates it was preferred to, or else the unpicked
    items of its scene within ``NEAR_RIVAL`` of its quality."""
    out: dict[int, list[_Item]] = {}
    for x in xs:
        if x.burst != x.i and x.burst in picked and x.i not in picked:
            out.setdefault(x.burst, []).append(x)
    by_scene: dict[int, list[_Item]] = {}
    for x in xs:
        if x.i not in picked and x.burst == x.i:
            by_scene.setdefault(x.scene, []).append(x)
    for i in picked:
        p = xs[i]
        if p.burst == p.i and i not in out:
            close = [r for r in by_scene.get(p.scene, []) if abs(r.q.score - p.q.score) <= NEAR_RIVAL]
            if close:
                out[i] = sorted(close, key=lambda r: -r.q.score)[:1]
    return out


def _comparison(x: _Item, rivals: list[_Item]) -> str | None:
    if not rivals:
        return None
    if rivals[0].burst == x.i:  # near-duplicates of this pick
        names = ", ".join(r.item.name for r in rivals[:3]) + (", …" if len(rivals) > 3 else "")
        best_rival = max(rivals, key=lambda r: r.q.score)
        why = f"quality {x.q.score:.2f} vs {best_rival.q.score:.2f}"
        sharp, rival_sharp = x.q.sharpness, best_rival.q.sharpness
        if sharp is not None and rival_sharp is not None and sharp > rival_sharp:
            why = f"sharper ({sharp:.3f} vs {rival_sharp:.3f}), {why}"
        return f"Chosen over {len(rivals)} near-duplicate(s) ({names}): {why}."
    r = rivals[0]
    return f"Edged out {r.item.name} of the same scene ({x.q.score:.2f} vs {r.q.score:.2f})."


def _pick_reason(x: _Item, first: bool, xs: list[_Item], group: SceneGroup) -> str:
    what = ", ".join(x.q.notes)
    if x.burst != x.i:
        return f"Near-duplicate of {xs[x.burst].item.name}, ranked after the distinct shots ({what})."
    if first:
        return f"Best of {group.label.split(' · ')[0].lower()}: quality {x.q.score:.2f} ({what})."
    return f"Quality {x.q.score:.2f} ({what}); another view of {group.label.split(' · ')[0].lower()}."


def _exclusion(
    x: _Item, xs: list[_Item], group: SceneGroup, scene_picks: int, lowest: float | None
) -> Exclusion:
    if x.burst != x.i:
        best = xs[x.burst]
        d = _bits(x.hash or 0, best.hash or 0)
        return Exclusion(
            key=x.item.key,
            name=x.item.name,
            category="near_duplicate",
            reason=(
                f"A near-duplicate of {best.item.name} ({d} of 64 bits apart), which scored higher "
                f"({best.q.score:.2f} vs {x.q.score:.2f})."
            ),
            duplicate_of=best.item.key,
        )
    scene = group.label.split(" · ")[0].lower()
    if scene_picks:
        return Exclusion(
            key=x.item.key,
            name=x.item.name,
            category="redundant_scene",
            reason=f"{scene.capitalize()} is already covered by {scene_picks} pick(s); "
            f"quality {x.q.score:.2f}.",
        )
    below = f" (the lowest pick scored {lowest:.2f})" if lowest is not None else ""
    return Exclusion(
        key=x.item.key,
        name=x.item.name,
        category="quality",
        reason=f"Quality {x.q.score:.2f} ({', '.join(x.q.notes)}), below the picks{below}.",
    )
