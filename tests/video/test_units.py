"""The video library's pure parts: recommendations -> filter graph, the offline provider's policy and its
feedback vocabulary, the analysis parsers, and the duration limit (no render)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from services.video import analyse, offline, pipeline, render
from services.video.model import Advice, Recommendations, VideoAnalysis, VideoContext
from shared.runtime import ffmpeg as tools
from tests.support.paths import TESTDATA

CLIP = analyse.Clip(duration_s=10.0, width=1280, height=720, fps=30.0, has_audio=True, audio_index=1)
BIKES = TESTDATA / "videos" / "real" / "bikes.mp4"


def graph(recs: Recommendations, clip: analyse.Clip = CLIP, transforms: Path | None = None) -> list[str]:
    """The command line of a render of ``recs``."""
    node = render.render_node(
        Path("/in.mp4"), clip, recs, Path("/out.mp4"), preset="veryfast", transforms=transforms
    )
    return tools.ffmpeg_argv(node)


def filters(argv: list[str]) -> str:
    return argv[argv.index("-filter_complex") + 1]


def test_neutral_recommendations_give_the_minimal_graph() -> None:
    argv = graph(Recommendations())
    assert filters(argv) == "[0:0]format=yuv420p[s0]"
    assert render.describe(Recommendations(), CLIP) == ()
    # the audio is copied, the metadata and faststart kept, the whole clip read upright
    assert argv[argv.index("-acodec") + 1] == "copy"
    assert "-ss" not in argv and "-t" not in argv
    assert argv[argv.index("-autorotate") + 1] == "1"
    assert argv[argv.index("-movflags") + 1] == "+faststart+use_metadata_tags"
    assert argv[argv.index("-map_metadata") + 1] == "0"
    assert argv[argv.index("-preset") + 1] == "veryfast"
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"


@pytest.mark.parametrize(
    ("recs", "expected", "read"),
    [
        (
            Recommendations(brightness=0.06, contrast=1.1),
            "eq=brightness=0.06:contrast=1.1",
            "eq brightness=+0.06 contrast=1.10",
        ),
        (
            Recommendations(gamma=1.2, saturation=0.9),
            "eq=gamma=1.2:saturation=0.9",
            "eq gamma=1.20 saturation=0.90",
        ),
        (Recommendations(warmth=0.5), "lutyuv=u=clip(val-10.00", "colour balance warmth=+0.50 tint=+0.00"),
        (Recommendations(tint=-0.25), "v=clip(val-5.00", "colour balance warmth=+0.00 tint=-0.25"),
        (Recommendations(denoise=0.5), "hqdn3d=luma_spatial=3.0:luma_tmp=4.5", "hqdn3d strength=3.0"),
        (Recommendations(sharpen=0.5), "unsharp=5:5:0.6", "unsharp amount=0.60"),
    ],
)
def test_each_recommendation_maps_to_its_filter(recs: Recommendations, expected: str, read: str) -> None:
    assert expected in filters(graph(recs))
    assert render.describe(recs, CLIP) == (read,)


def test_stabilisation_is_the_second_pass_of_vidstab() -> None:
    recs = Recommendations(stabilise=0.25)
    chain = filters(graph(recs, transforms=Path("/work/t.trf")))
    assert "vidstabtransform=input=/work/t.trf" in chain and "smoothing=12" in chain
    assert render.describe(recs, CLIP) == ("vidstab smoothing=12",)
    detect = tools.ffmpeg_argv(render.detect_node(Path("/in.mp4"), CLIP, recs, Path("/work/t.trf")))
    assert "vidstabdetect=" in filters(detect)


def test_trim_cuts_at_the_input_and_re_encodes_the_audio() -> None:
    recs = Recommendations(trim_in_s=1.2, trim_out_s=9.8)
    argv = graph(recs)
    assert argv[argv.index("-ss") + 1] == "1.2" and argv[argv.index("-t") + 1] == "8.6"
    assert argv[argv.index("-acodec") + 1] == "aac"
    assert render.describe(recs, CLIP) == ("trim 1.20-9.80 s",)
    # a trim past the end keeps to the end; an empty one keeps the clip
    assert render.trim_of(Recommendations(trim_in_s=2.0, trim_out_s=50.0), CLIP) == render.Trim(start_s=2.0)
    assert not render.trim_of(Recommendations(trim_in_s=5.0, trim_out_s=5.0), CLIP).active


def test_no_audio_stream_when_the_source_has_none() -> None:
    argv = graph(Recommendations(), msgspec_replace(CLIP, has_audio=False, audio_index=-1))
    assert "-acodec" not in argv and argv.count("-map") == 1


def msgspec_replace(clip: analyse.Clip, **changes: object) -> analyse.Clip:
    import msgspec

    return msgspec.structs.replace(clip, **changes)


CLEAN = VideoAnalysis(
    duration_s=10,
    width=1280,
    height=720,
    fps=30,
    has_audio=True,
    luma_mean=110,
    luma_low=40,
    luma_high=190,
    saturation=20,
    cast_u=-2,
    cast_v=2,
    noise=1.5,
    shake=0.8,
    blur=5,
)


def test_a_clean_clip_gets_neutral_recommendations() -> None:
    recs = offline.recommend_from(CLEAN)
    assert render.describe(recs, CLIP) == ()
    assert recs.reason == "The clip needs nothing."


def test_a_dark_clip_is_lifted_and_a_shaky_one_stabilised() -> None:
    import msgspec

    dark = offline.recommend_from(msgspec.structs.replace(CLEAN, luma_mean=55, luma_low=20, luma_high=95))
    assert dark.contrast > 1.2 and dark.gamma >= 1
    # the stretch from the black point maps the mean towards the target
    lifted = dark.contrast * (55 - 127.5) + 127.5 + 255 * dark.brightness
    assert lifted > 80
    shaky = offline.recommend_from(msgspec.structs.replace(CLEAN, shake=6.0))
    assert 0.3 <= shaky.stabilise <= 1
    noisy = offline.recommend_from(msgspec.structs.replace(CLEAN, noise=7.0))
    assert 0 < noisy.denoise <= 1 and noisy.sharpen == 0
    trimmed = offline.recommend_from(
        msgspec.structs.replace(CLEAN, trim_in_s=1.5, notes=("starts on 1.5 s of black",))
    )
    assert trimmed.trim_in_s == 1.5 and "black" in trimmed.reason


def test_a_blank_scene_is_left_alone() -> None:
    import msgspec

    white = offline.recommend_from(msgspec.structs.replace(CLEAN, luma_mean=235, luma_low=235, luma_high=235))
    assert render.describe(white, CLIP) == ()


def test_the_feedback_vocabulary() -> None:
    assert offline.parse_feedback("A bit brighter and warmer please, less saturation") == (
        ["brighter", "warmer", "saturation-"],
        [],
    )
    assert offline.parse_feedback("more contrast, sharper, make the sky purple") == (
        ["contrast+", "sharper"],
        ["sky", "purple"],
    )
    assert offline.parse_feedback("steadier and cooler") == (["steadier", "cooler"], [])


def test_feedback_moves_the_previous_pass_within_bounds() -> None:
    provider = offline.OfflineVideoProvider()
    previous = Advice(recommendations=Recommendations(brightness=0.48, warmth=0.9, sharpen=0.2))

    async def ask(sentence: str) -> Advice:
        return await provider.recommend(
            CLEAN, preview=None, context=VideoContext(), feedback=sentence, previous=previous
        )

    advice = anyio.run(ask, "brighter, warmer and darker blue sky")
    recs = advice.recommendations
    assert recs.brightness <= 0.5 and recs.warmth == 1.0 and recs.sharpen == 0.2
    assert advice.not_understood == ("blue", "sky")
    softer = anyio.run(ask, "softer").recommendations
    assert softer.sharpen == 0 and softer.denoise == 0
    steadier = anyio.run(ask, "less shaky").recommendations
    assert steadier.stabilise >= 0.8


def test_motion_parsing_and_shake() -> None:
    text = "\n".join(
        [
            "VID.STAB 1",
            "Frame 1 (List 0 [])",
            "Frame 2 (List 3 [(LM 2 0 1 1 32 0.4 1.0),(LM 2 1 1 1 32 0.4 1.0),(LM 9 9 1 1 32 0.4 1.0)])",
            "Frame 3 (List 2 [(LM -2 0 1 1 32 0.4 1.0),(LM -2 0 1 1 32 0.4 1.0)])",
        ]
    )
    shifts = analyse.parse_motion(text)
    assert shifts == [None, (2, 1), (-2, 0)]
    assert analyse.shake_of(shifts) == pytest.approx((16 + 1) ** 0.5)


def test_a_clip_over_the_limit_is_not_analysed() -> None:
    class Never:
        name = "never"

        async def recommend(self, *args: object, **kwargs: object) -> Advice:
            raise AssertionError("a clip over the limit reached the provider")

    async def run(workdir: Path) -> None:
        await pipeline.enhance_video(
            BIKES, Never(), workdir=workdir, preview=None, context=VideoContext(), max_duration_s=4.0
        )

    with pytest.raises(pipeline.TooLong) as caught:
        anyio.run(run, Path("/nonexistent"))
    assert (caught.value.duration_s, caught.value.limit_s) == (10.0, 4.0)
