"""The TopK sparse autoencoder: the planted-dictionary acceptance test and its invariants."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from sentiment_neuron.dictionary.sae import SAEConfig, TopKSAE, fraction_of_variance_unexplained

H, PLANTED, K = 24, 48, 2  # twice as many features as dimensions: superposition


def _planted(seed: int = 0):
    """A known dictionary D (PLANTED unit vectors in H dims) and a sampler of K-sparse mixtures of it."""
    gen = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(PLANTED, H, generator=gen)
    dictionary /= dictionary.norm(dim=1, keepdim=True)

    def sample(n: int, sample_gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        active = torch.rand(n, PLANTED, generator=sample_gen).argsort(1)[:, :K]
        codes = torch.zeros(n, PLANTED).scatter_(1, active, 0.5 + torch.rand(n, K, generator=sample_gen))
        return codes @ dictionary, codes

    return dictionary, sample


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    dictionary, sample = _planted()
    gen = torch.Generator().manual_seed(1)
    sae = TopKSAE(SAEConfig(H, 2 * PLANTED, k=K, dead_after=4096))
    sae.init_from_data(sample(2048, gen)[0])
    optimizer = torch.optim.Adam(sae.parameters(), lr=5e-3)
    for _ in range(400):
        loss, _ = sae.loss(sample(512, gen)[0])
        optimizer.zero_grad()
        loss.backward()
        sae.remove_parallel_gradient()
        optimizer.step()
        sae.normalize_decoder()
    return sae.eval(), dictionary, sample


def test_every_planted_feature_is_recovered(trained):
    sae, dictionary, _ = trained
    cosine = (dictionary @ sae.w_dec.detach().T).max(1).values  # best learned match per planted feature
    assert cosine.min() > 0.9, f"{int((cosine <= 0.9).sum())} planted features unmatched (min cos {cosine.min():.3f})"


def test_a_planted_class_is_read_by_a_feature_and_by_no_single_unit(trained):
    """Class = planted feature 0 active. Each unit alone barely separates it; the matching learned feature does."""
    sae, dictionary, sample = trained
    gen = torch.Generator().manual_seed(7)
    x, codes = sample(4000, gen)
    y = (codes[:, 0] > 0).numpy()
    half = len(y) // 2
    unit_acc = [LogisticRegression(class_weight="balanced").fit(x[:half, [j]], y[:half]).score(x[half:, [j]], y[half:])
                for j in range(H)]
    feature = int((dictionary[0] @ sae.w_dec.detach().T).argmax())
    with torch.no_grad():
        active = (sae.encode(x)[:, feature] > 0).numpy()
    balanced = lambda pred: 0.5 * ((pred[y]).mean() + (~pred[~y]).mean())  # noqa: E731
    assert max(unit_acc) < 0.8, max(unit_acc)
    assert balanced(active) > 0.95


def test_reconstruction_is_good_and_l0_is_k(trained):
    sae, _, sample = trained
    x, _ = sample(2000, torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert fraction_of_variance_unexplained(x, sae(x)) < 0.1
        assert ((sae.encode(x) > 0).sum(1) <= K).all()


def test_sparse_and_dense_decoding_agree():
    torch.manual_seed(0)
    sae = TopKSAE(SAEConfig(16, 64, k=4))
    x = torch.randn(50, 16)
    with torch.no_grad():
        dense = sae.decode(sae.encode(x))
        assert torch.allclose(sae(x), dense, atol=1e-5)


def test_decoder_rows_stay_unit_norm_and_gradient_along_them_is_removed():
    torch.manual_seed(0)
    sae = TopKSAE(SAEConfig(16, 64, k=4))
    sae.init_from_data(torch.randn(100, 16) * 3)
    loss, info = sae.loss(torch.randn(32, 16) * 3)
    loss.backward()
    sae.remove_parallel_gradient()
    along = (sae.w_dec.grad * sae.w_dec).sum(1)
    assert along.abs().max() < 1e-5
    with torch.no_grad():
        sae.w_dec.mul_(3.0)
    sae.normalize_decoder()
    assert torch.allclose(sae.w_dec.norm(dim=1), torch.ones(64), atol=1e-5)
    assert 0 < info["fvu"]


def test_input_scale_normalizes_mean_square_norm():
    sae = TopKSAE(SAEConfig(8, 16, k=2))
    x = torch.randn(1000, 8) * 5
    sae.init_from_data(x)
    assert float(((x * sae.input_scale) ** 2).sum(1).mean()) == pytest.approx(8.0, rel=1e-4)


def test_aux_loss_only_when_features_are_dead():
    torch.manual_seed(0)
    sae = TopKSAE(SAEConfig(8, 32, k=2, k_aux=4, dead_after=10))
    x = torch.randn(8, 8)
    assert sae.loss(x)[1]["aux"] == 0.0  # nothing has been silent for 10 positions yet
    sae.loss(x)
    _, info = sae.loss(x)  # 24 positions: features never chosen are now dead
    assert info["aux"] > 0.0


@pytest.mark.parametrize("bad", [dict(k=0), dict(n_features=4, k=8), dict(aux_coef=-1.0), dict(input_size=1.5)])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        SAEConfig(**{"input_size": 8, "n_features": 16, **bad})


def test_fvu_of_the_mean_is_one():
    x = torch.randn(100, 4, dtype=torch.float64)
    assert fraction_of_variance_unexplained(x, x.mean(0).expand_as(x)) == pytest.approx(1.0)
    assert fraction_of_variance_unexplained(x, x) == 0.0
    assert np.isfinite(fraction_of_variance_unexplained(torch.ones(3, 2), torch.zeros(3, 2)))
