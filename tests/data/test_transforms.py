import numpy as np
import pytest

from medseg.data.transforms import letterbox_image, letterbox_mask, make_letterbox, normalize, unletterbox


@pytest.mark.parametrize("shape", [(540, 800), (300, 200), (64, 64)])
def test_letterbox_keeps_aspect_and_round_trips(shape):
    box = make_letterbox(shape, (224, 320))
    assert abs(box.scale_x - box.scale_y) < 0.02
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = (xx / shape[1] + yy / shape[0]).astype(np.float32)
    small = letterbox_image(image, box)
    assert small.shape == (224, 320)
    back = unletterbox(small[None], box)[0]
    assert back.shape == shape
    assert np.abs(back - image).mean() < 0.02


def test_mask_edges_stay_in_place():
    mask = np.zeros((540, 800), np.uint8)
    mask[100:300, 200:500] = 1
    box = make_letterbox(mask.shape, (224, 320))
    small = letterbox_mask(mask, box, 2)
    back = (unletterbox(small[None].astype(np.float32), box)[0] > 0.5).astype(np.uint8)
    dice = 2 * (back & mask).sum() / (back.sum() + mask.sum())
    assert dice > 0.99


def test_normalize_ignores_padding():
    image = np.zeros((1, 4, 4), np.float32)
    image[0, :2] = [[1, 2, 3, 4], [5, 6, 7, 8]]
    valid = np.zeros((4, 4), bool)
    valid[:2] = True
    out = normalize(image, "zscore", valid)
    assert out[0][valid].mean() == pytest.approx(0, abs=1e-6) and out[0][valid].std() == pytest.approx(1, abs=1e-5)
    assert (out[0][~valid] == 0).all()
    assert normalize(image, "minmax", valid)[0][valid].max() == pytest.approx(1)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalize(image, "bogus")


def test_endoscopy_augmentation_moves_image_and_mask_together():
    import torch

    from medseg.config import AugmentConfig
    from medseg.data.dataset import build_augmentation

    transform = build_augmentation(
        AugmentConfig(flip=False, rotate_deg=0, scale=0, intensity=0, color=0.3, grid_distortion=0.3, prob=1.0), None
    )
    transform.set_random_state(0)
    image = torch.zeros(3, 64, 64)
    mask = torch.zeros(1, 64, 64)
    image[:, 16:48, 16:48] = 1.0
    mask[:, 16:48, 16:48] = 1.0
    out = transform({"image": image, "mask": mask})
    assert set(torch.unique(torch.as_tensor(out["mask"])).tolist()) == {0.0, 1.0}  # labels stay labels
    assert not torch.equal(torch.as_tensor(out["mask"]), mask)  # the grid moved the mask
    inside = torch.as_tensor(out["mask"])[0] > 0
    channel_means = torch.as_tensor(out["image"])[:, inside].mean(dim=1)
    assert channel_means.std() > 0  # channel-wise jitter changes the colour, not only the brightness
