"""utils.pretext: rotation, jigsaw and inpainting pretext tasks (chapter 9, notebook 2)."""

import copy

import pytest
import torch
import torch.nn.functional as F

from utils import pretext as P
from utils.self_supervised import DigitEncoder


def digits(n=16, seed=0):
    """Blurry random strokes in [0, 1], 28 x 28 (enough to train a few steps)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, 7, 7, generator=g) > 0.6).float()
    return F.interpolate(x, size=28, mode="bilinear", align_corners=False).clamp(0, 1)


def encoder(seed=0, width=4):
    torch.manual_seed(seed)
    return DigitEncoder(width=width)


def same_weights(a, b):
    return all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))


def test_rotations_are_counter_clockwise_quarter_turns():
    small = torch.arange(9.0).reshape(1, 1, 3, 3)
    rotated, k = P.rotations(small)
    assert rotated.shape == (4, 1, 3, 3) and k.tolist() == [0, 1, 2, 3]
    assert torch.equal(rotated[1], small[0].transpose(1, 2).flip(1))  # transpose, then rows upside down
    assert rotated[1, 0, 0, 0] == 2  # the top-right pixel goes to the top-left corner
    assert torch.equal(rotated[2], small[0].flip(1).flip(2))
    x = digits(3)
    rotated, k = P.rotations(x)
    assert k.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert torch.equal(torch.rot90(rotated[3:6], 3, dims=(2, 3)), x)
    with pytest.raises(ValueError, match="N, C, H, W"):
        P.rotations(torch.zeros(3, 28, 28))
    with pytest.raises(ValueError, match="square"):
        P.rotations(torch.zeros(1, 1, 28, 20))


def test_permutation_set_is_far_apart_and_deterministic():
    perms = P.permutation_set(24, seed=0)
    assert perms.shape == (24, 9) and perms.dtype == torch.int64
    assert (perms.sort(1).values == torch.arange(9)).all() and len({tuple(p) for p in perms.tolist()}) == 24
    d = (perms[:, None] != perms[None]).sum(2)
    assert d[~torch.eye(24, dtype=torch.bool)].min() >= 7
    g = torch.Generator().manual_seed(0)
    random = torch.stack([torch.randperm(9, generator=g) for _ in range(24)])
    dr = (random[:, None] != random[None]).sum(2)
    assert dr[~torch.eye(24, dtype=torch.bool)].min() < 7
    assert torch.equal(perms, P.permutation_set(24, seed=0))
    assert not torch.equal(perms, P.permutation_set(24, seed=1))
    for bad in (0, 1001, 2.0, True):
        with pytest.raises(ValueError, match="n must be"):
            P.permutation_set(bad)


def test_cut_tiles_against_a_loop_and_touching_cells_retile_the_image():
    x = digits(2)
    tiles = P.cut_tiles(x, 8, torch.Generator().manual_seed(5))
    assert tiles.shape == (2, 9, 1, 8, 8)
    offsets = torch.randint(0, 3, (2, 9, 2), generator=torch.Generator().manual_seed(5))
    for i in range(2):
        padded = F.pad(x[i, 0], (1, 1, 1, 1))
        for cell in range(9):
            r, c = divmod(cell, 3)
            top, left = 10 * r + offsets[i, cell, 0], 10 * c + offsets[i, cell, 1]
            assert torch.equal(tiles[i, cell, 0], padded[top : top + 8, left : left + 8])
    cells = P.cut_tiles(x[:1], tile=10)
    image = cells[0, :, 0].reshape(3, 3, 10, 10).permute(0, 2, 1, 3).reshape(30, 30)
    assert torch.equal(image, F.pad(x[0, 0], (1, 1, 1, 1)))
    centred = P.cut_tiles(x[:1], 6)
    assert torch.equal(centred[0, 4, 0], F.pad(x[0, 0], (1, 1, 1, 1))[12:18, 12:18])
    three = P.cut_tiles(x.expand(2, 3, 28, 28), 8, torch.Generator().manual_seed(5))  # channels kept apart
    assert three.shape == (2, 9, 3, 8, 8) and torch.equal(three[:, :, 2:], tiles)
    with pytest.raises(ValueError, match="tile must be"):
        P.cut_tiles(x, 11)
    with pytest.raises(ValueError, match="do not fit"):
        P.cut_tiles(torch.zeros(1, 1, 32, 32), 8)


def test_shuffle_tiles_puts_tile_perm_j_at_position_j():
    tiles = torch.arange(2 * 9.0).reshape(2, 9)
    perms = P.permutation_set(24)
    which = torch.tensor([3, 17])
    puzzles = P.shuffle_tiles(tiles, which, perms)
    assert puzzles[1].tolist() == tiles[1, perms[17]].tolist()
    back = torch.empty_like(puzzles)
    back[0, perms[3]] = puzzles[0]
    assert torch.equal(back[0], tiles[0])
    with pytest.raises(ValueError, match="index the 24"):
        P.shuffle_tiles(tiles, torch.tensor([0, 24]), perms)
    with pytest.raises(ValueError, match="permutation of range"):
        P.shuffle_tiles(tiles, which, torch.zeros(24, 9, dtype=torch.long))


def test_cut_hole_and_the_hole_error():
    x = digits(4)
    damaged, mask = P.cut_hole(x, torch.Generator().manual_seed(0))
    assert mask.shape == (4, 1, 28, 28) and (mask.sum((1, 2, 3)) == 144).all()
    assert (damaged[mask] == 0.5).all() and torch.equal(damaged[~mask], x[~mask])
    rows = mask.any(3)[:, 0].float().argmax(1)  # the first row of each hole
    assert ((rows >= 4) & (rows <= 12)).all()
    _, again = P.cut_hole(x, torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)
    _, centred = P.cut_hole(x[:1])
    assert centred[0, 0, 8:20, 8:20].all() and centred.sum() == 144
    out = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    slow = sum(((out[i][mask[i]] - x[i][mask[i]]) ** 2).mean() for i in range(4)) / 4
    assert torch.allclose(P.hole_error(out, x, mask), slow)
    assert not torch.allclose(P.hole_error(out, x, ~mask), slow)  # the pixels outside differ
    with pytest.raises(ValueError, match="does not fit"):
        P.cut_hole(x, hole=21)
    with pytest.raises(ValueError, match="empty"):
        P.hole_error(out, x, torch.zeros_like(mask))


def test_heads_have_the_notebooks_shapes():
    assert P.RotationHead(128).weight.shape == (4, 128)
    head = P.JigsawHead(128, 24, 256)
    assert [tuple(m.weight.shape) for m in head if hasattr(m, "weight")] == [(256, 1152), (24, 256)]
    decoder = P.InpaintingDecoder(128, 64)
    assert decoder(torch.zeros(2, 128)).shape == (2, 1, 28, 28)
    enc = encoder()
    logits = P.jigsaw_logits(enc, P.JigsawHead(enc.out_features), P.cut_tiles(digits(2), 8))
    assert logits.shape == (2, 24)
    with pytest.raises(ValueError, match="multiple of 4"):
        P.InpaintingDecoder(size=30)


def test_first_loss_is_the_tasks_cross_entropy_and_training_is_seeded():
    """One batch holding all images: the History's first loss is the loss of the untrained network on
    batches drawn in the documented order (batch order, then the task's draws), so a different order or
    loss would fail here."""
    x = digits(8)
    for name in ("rotation", "jigsaw", "inpainting"):
        enc = encoder()
        start = copy.deepcopy(enc).train()
        g = torch.Generator().manual_seed(3)
        idx = torch.randperm(8, generator=g)
        torch.manual_seed(3)
        if name == "rotation":
            head = P.RotationHead(enc.out_features)
            xr, k = P.rotations(x[idx])
            expected = F.cross_entropy(head(start(xr)), k)
            history = P.train_rotation(enc, x, epochs=1, batch_size=8, seed=3, progress=False)
        elif name == "jigsaw":
            head = P.JigsawHead(enc.out_features)
            which = torch.randint(0, 24, (8,), generator=g)
            puzzles = P.shuffle_tiles(P.cut_tiles(x[idx], 8, g), which, P.permutation_set(24))
            expected = F.cross_entropy(P.jigsaw_logits(start, head, puzzles), which)
            history = P.train_jigsaw(enc, x, epochs=1, batch_size=8, seed=3, progress=False)
        else:
            head = P.InpaintingDecoder(enc.out_features).train()
            damaged, mask = P.cut_hole(x[idx], g)
            expected = P.hole_error(head(start(damaged)), x[idx], mask)
            history = P.train_inpainting(enc, x, epochs=1, batch_size=8, seed=3, progress=False)
        assert history.epochs == 1
        assert history.train_loss[0] == pytest.approx(expected.item(), rel=1e-5), name
        assert not same_weights(enc, start), name  # trained in place


def test_training_is_deterministic_and_moves_the_head_given():
    x = digits(8)
    a, b, c = encoder(), encoder(), encoder()
    head = P.RotationHead(a.out_features)
    before = head.weight.clone()
    P.train_rotation(a, x, epochs=1, batch_size=4, seed=0, head=head, progress=False)
    assert not torch.equal(head.weight, before)
    P.train_rotation(b, x, epochs=1, batch_size=4, seed=0, progress=False)
    P.train_rotation(c, x, epochs=1, batch_size=4, seed=1, progress=False)
    assert not same_weights(a, b)  # a's head started elsewhere
    b2 = encoder()
    P.train_rotation(b2, x, epochs=1, batch_size=4, seed=0, progress=False)
    assert same_weights(b, b2) and not same_weights(b, c)
    j1, j2 = encoder(), encoder()
    h1 = P.train_jigsaw(j1, x, epochs=1, batch_size=8, seed=0, progress=False)
    h2 = P.train_jigsaw(j2, x, epochs=1, batch_size=8, seed=0, progress=False)
    assert same_weights(j1, j2) and h1.train_loss == h2.train_loss


@pytest.mark.parametrize("train", [P.train_rotation, P.train_jigsaw, P.train_inpainting])
def test_training_rejects_bad_input(train):
    x = digits(4)
    with pytest.raises(ValueError, match="epochs"):
        train(encoder(), x, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        train(encoder(), x, epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        train(encoder(), x, epochs=1, lr=-1.0)
    with pytest.raises(ValueError, match="N, C, H, W"):
        train(encoder(), x[:, 0], epochs=1)
    with pytest.raises(ValueError, match="channel"):
        train(encoder(), x.expand(4, 3, 28, 28), epochs=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train(encoder(), x * 255, epochs=1)
    with pytest.raises(ValueError, match="encoder"):
        train(torch.nn.Identity(), x, epochs=1)
    if train is not P.train_rotation:
        with pytest.raises(ValueError, match="28 x 28"):
            train(encoder(), torch.zeros(2, 1, 32, 32), epochs=1)
