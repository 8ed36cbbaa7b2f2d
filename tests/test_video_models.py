"""utils.video_models: the small video classifiers chapter 8 compares."""

import pytest
import torch
from torchvision.models.video import r2plus1d_18

from utils import video_models as V

BUILDERS = {
    "SingleFrame": V.SingleFrame,
    "TemporalAverage": V.TemporalAverage,
    "LateFusion": V.LateFusion,
    "EarlyFusion": V.EarlyFusion,
    "SlowFusion": V.SlowFusion,
    "C3D": V.C3D,
    "R2Plus1D": V.R2Plus1D,
    "TwoStream": V.TwoStream,
    "CNNLSTM": V.CNNLSTM,
}


def clips(n=3, channels=5, t=16, size=32, seed=0):
    return torch.rand(n, channels, t, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", BUILDERS)
def test_every_model_classifies_clips(name):
    torch.manual_seed(0)
    model = BUILDERS[name](9).eval()
    x = clips()
    with torch.no_grad():
        out = model(x)
        assert out.shape == (3, 9) and torch.isfinite(out).all()
        # the models other than the two-stream one read only the RGB channels
        if name != "TwoStream":
            y = x.clone()
            y[:, 3:] = 7.0
            assert torch.equal(model(y), out)
    with pytest.raises(ValueError, match="expected clips"):
        model(torch.zeros(2, 3, 32, 32))


def run(model, x):
    with torch.no_grad():
        return model.eval()(x)


def test_temporal_average_cannot_tell_a_clip_from_its_reversal_but_the_others_can():
    torch.manual_seed(0)
    x = clips(channels=3)
    reverse = x.flip(2)
    avg = V.TemporalAverage(9)
    assert torch.allclose(run(avg, x), run(avg, reverse), atol=1e-6)
    for name in ("LateFusion", "EarlyFusion", "SlowFusion", "C3D", "R2Plus1D", "CNNLSTM"):
        model = BUILDERS[name](9)
        assert (run(model, x) - run(model, reverse)).abs().max() > 2e-5, name


def test_single_frame_sees_only_the_middle_frame():
    torch.manual_seed(0)
    model = V.SingleFrame(9)
    x = clips(channels=3)
    y = x.clone()
    y[:, :, :8] = 0
    y[:, :, 9:] = 1
    assert torch.equal(run(model, x), run(model, y))
    y[:, :, 8] += 0.5
    assert not torch.equal(run(model, x), run(model, y))


def test_late_fusion_sees_only_the_first_and_last_frames():
    torch.manual_seed(0)
    model = V.LateFusion(9)
    x = clips(channels=3)
    y = x.clone()
    y[:, :, 1:-1] = 0
    assert torch.equal(run(model, x), run(model, y))


def test_midplanes_is_torchvisions():
    with torch.device("meta"):
        tv = r2plus1d_18()
    blocks = [b for layer in (tv.layer1, tv.layer2, tv.layer3, tv.layer4) for b in layer]
    checked = 0
    for block in blocks:
        # torchvision sizes both (2+1)D convolutions of a block from the block's input and output planes
        inplanes, planes = block.conv1[0][0].in_channels, block.conv1[0][3].out_channels
        for conv in (block.conv1[0], block.conv2[0]):
            assert conv[0].out_channels == V.midplanes(inplanes, planes)
            checked += 1
    assert checked == 16
    assert V.midplanes(64, 64) == 144 and V.midplanes(3, 64, kt=3, k=7) != V.midplanes(3, 64)
    with pytest.raises(ValueError, match="in_planes"):
        V.midplanes(0, 4)


def test_factorised_and_full_3d_models_have_about_the_same_parameters():
    c3d = sum(p.numel() for p in V.C3D(9).parameters())
    r21d = sum(p.numel() for p in V.R2Plus1D(9).parameters())
    assert abs(r21d - c3d) / c3d < 0.01


def test_early_fusion_is_built_for_its_number_of_frames():
    with pytest.raises(ValueError, match="built for 16 frames"):
        V.EarlyFusion(9)(clips(channels=3, t=12))
    assert run(V.EarlyFusion(9, n_frames=12), clips(channels=3, t=12)).shape == (3, 9)
    with pytest.raises(ValueError, match="at least 10 frames"):
        V.SlowFusion(9, n_frames=8)
    with pytest.raises(ValueError, match="multiple of 8"):
        V.FrameCNN(size=30)


def test_two_stream_averages_its_streams_probabilities():
    torch.manual_seed(0)
    model = V.TwoStream(9).eval()
    x = clips()
    with torch.no_grad():
        appearance, motion = model.streams(x)
        fused = model(x)
    assert torch.allclose(fused.exp().sum(1), torch.ones(3), atol=1e-6)
    assert torch.allclose(fused.exp(), (appearance.softmax(1) + motion.softmax(1)) / 2, atol=1e-6)
    # the motion stream reads the flow channels around the middle, the appearance stream the middle frame
    y = x.clone()
    y[:, 3:, :2] = 5.0  # flows 0 and 1 are outside the stacked 10 (2..11)
    y[:, :3, :8] = 0.0
    with torch.no_grad():
        assert torch.equal(model(y), fused)
    with pytest.raises(ValueError, match="at least 5 channels"):
        model(clips(channels=3))


def test_with_flow_layout():
    rgb = clips(n=2, channels=3, t=4, size=8)
    flows = torch.randn(2, 3, 2, 8, 8)
    x = V.with_flow(rgb, flows)
    assert x.shape == (2, 5, 4, 8, 8)
    assert torch.equal(x[:, :3], rgb)
    assert torch.equal(x[:, 3, 1], flows[:, 1, 0]) and torch.equal(x[:, 4, 2], flows[:, 2, 1])
    assert (x[:, 3:, -1] == 0).all()
    with pytest.raises(ValueError, match="flows must have shape"):
        V.with_flow(rgb, torch.randn(2, 4, 2, 8, 8))
    with pytest.raises(ValueError, match="clips must have shape"):
        V.with_flow(rgb[:, :1], flows)
