"""Pre-training (pretrain=dae): the auto-encoders learn, the run logs and counts it, and it
survives a kill and replicas as supervised training does."""
import pytest
import torch

from glorot_repro.command.compose import compose_config
from glorot_repro.data.streams import ShapesetStream
from glorot_repro.errors import ConfigError
from glorot_repro.nets.model import DeepMLP
from glorot_repro.rng import seed_everything
from glorot_repro.training.pretrain import pretrain_dae, reconstruction_cost

from conftest import comparable, crash_at, entry_point, read_summary, scalars

SMOKE_PRETRAIN = 5 * 10  # scale=smoke: 5 hidden layers x pretrain.updates_per_layer=10


@pytest.mark.e2e
def test_reconstruction_error_falls_during_pretraining():
    """Each layer's auto-encoder, 300 updates on Shapeset: the mean cost of its last 50 updates
    is below what the same auto-encoder gives when it does not learn (pretrain.lr=0): for layer
    1 on the same minibatches and masking noise, so the reference needs no margin; for layer 2 on
    layer 1's codes, learnt or not."""
    def pretrained(lr):
        cfg = compose_config(["pretrain=dae", "pretrain.updates_per_layer=300",
                              "pretrain.log_every=50", "model.depth=2", f"pretrain.lr={lr}"])
        seed_everything(0)
        model = DeepMLP(1024, 9, depth=2, width=64, activation="tanh", init="normalized")
        before = [layer.weight.detach().clone() for layer in model.hidden]
        logged = {}
        pretrain_dae(model, ShapesetStream(0, torch.device("cpu"), signed=False), cfg.pretrain,
                     cfg.train.batch_size, cfg.seed, (0.0, 1.0),
                     lambda step, values: logged.update({(tag, step): v for tag, v in values.items()}))
        return model, before, logged

    model, before, logged = pretrained(0.01)
    _, _, still = pretrained(0.0)
    for l in (1, 2):
        tag = f"pretrain/layer{l}/reconstruction"
        series, reference = ([v for (t, _), v in sorted(table.items(), key=lambda kv: kv[0][1])
                              if t == tag] for table in (logged, still))
        assert len(series) == len(reference) == 6
        assert series[-1] < reference[-1], (series, reference)
    assert sorted({step for _, step in logged}) == list(range(50, 601, 50))
    assert all(not torch.equal(b, layer.weight) for b, layer in zip(before, model.hidden))
    assert torch.count_nonzero(model.output.bias) == 0  # the softmax layer is not pre-trained


def test_reconstruction_cost_by_input_range():
    a = torch.tensor([[0.0, 2.0]])
    # [-1, 1] inputs are mapped onto [0, 1]: the target -1 is 0, the target 1 is 1.
    signed = reconstruction_cost(a, torch.tensor([[-1.0, 1.0]]), (-1.0, 1.0))
    unit = reconstruction_cost(a, torch.tensor([[0.0, 1.0]]), (0.0, 1.0))
    expected = -torch.log(1 - torch.sigmoid(a[0, 0])) - torch.log(torch.sigmoid(a[0, 1]))
    torch.testing.assert_close(signed, expected)
    torch.testing.assert_close(unit, expected)
    # Unbounded inputs (ReLU units): squared error of the linear decoder.
    torch.testing.assert_close(reconstruction_cost(a, torch.tensor([[1.0, 1.0]]), None),
                               torch.tensor(0.5 * (1 + 1)))


@pytest.mark.e2e
def test_pretraining_through_the_entry_point_logs_and_counts_it(tmp_path):
    """scale=smoke: 50 pre-training updates, then 60 supervised ones logged at steps 50..110."""
    run_dir = tmp_path / "dae"
    res = entry_point("scale=smoke", "device=cpu", "pretrain=dae", f"hydra.run.dir={run_dir}",
                      cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["updates"] == 60
    assert summary["pretrain_updates"] == SMOKE_PRETRAIN
    assert summary["examples"] == (SMOKE_PRETRAIN + 60) * 10
    logged = scalars(run_dir)
    for l in range(1, 6):
        assert [s for s, _ in logged[f"pretrain/layer{l}/reconstruction"]] == [10 * l - 5, 10 * l]
    assert [s for s, _ in logged["error/valid"]] == [50, 70, 90, 110]
    assert [s for s, _ in logged["theory/act/layer1/std"]] == [50]


@pytest.mark.parametrize("crash_batch,resumed_from", [
    (23, None), (SMOKE_PRETRAIN + 17, 0), (SMOKE_PRETRAIN + 45, 30)])
@pytest.mark.e2e
def test_killed_pretraining_run_resumes_to_the_same_numbers(run_smoke, tmp_path, monkeypatch,
                                                            caplog, crash_batch, resumed_from):
    """Killed during pre-training (it starts again), after it (the checkpoint at update 0 holds
    the pre-trained weights) and later (update 30's): each rerun ends as an uninterrupted run."""
    straight, _ = run_smoke("pretrain=dae", run_dir=tmp_path / "straight")

    class Killed(Exception):
        pass

    def die():
        raise Killed

    crash_at(monkeypatch, crash_batch, die)  # pre-training draws its minibatches first
    with pytest.raises(Killed):
        run_smoke("pretrain=dae", run_dir=tmp_path / "resumed")
    monkeypatch.undo()
    caplog.clear()
    with caplog.at_level("INFO", logger="glorot_repro"):
        resumed, _ = run_smoke("pretrain=dae", run_dir=tmp_path / "resumed")
    pretrained_again = f"pre-training {tmp_path / 'resumed'}: dae" in caplog.text
    if resumed_from is None:
        assert "resuming" not in caplog.text and pretrained_again
    else:
        assert f"from update {resumed_from}" in caplog.text and not pretrained_again
    assert comparable(resumed) == comparable(straight)
    assert scalars(tmp_path / "resumed") == scalars(tmp_path / "straight")


@pytest.mark.e2e
def test_each_replica_pretrains_as_it_would_alone(run_smoke, tmp_path):
    group, group_dir = run_smoke("pretrain=dae", "train.replicas.seeds=[0,1]",
                                 run_dir=tmp_path / "group")
    alone, alone_dir = run_smoke("pretrain=dae", "seed=1", run_dir=tmp_path / "alone")
    replica = scalars(group_dir / "seed1_lr0.03")
    ours = scalars(alone_dir)
    for l in range(1, 6):  # pre-training runs model by model: the same numbers exactly
        tag = f"pretrain/layer{l}/reconstruction"
        assert replica[tag] == ours[tag]
    assert read_summary(group_dir / "seed1_lr0.03")["examples"] == alone["examples"]
    (steps, values), (our_steps, our_values) = zip(*replica["loss/train"]), zip(*ours["loss/train"])
    assert steps == our_steps and values == pytest.approx(our_values, rel=1e-3)
    assert replica["pretrain/layer1/reconstruction"] != scalars(group_dir / "seed0_lr0.03")[
        "pretrain/layer1/reconstruction"]


@pytest.mark.parametrize("override,message", [
    ("pretrain.name=rbm", "pretrain.name='rbm' is not valid; choose one of: none, dae"),
    ("pretrain.noise=1.0", r"pretrain.noise is a probability in \[0, 1\), got 1.0"),
    ("pretrain.updates_per_layer=0", "pretrain.updates_per_layer must be a positive integer"),
    ("pretrain.lr=-1", "pretrain.lr must be > 0, got -1"),
])
@pytest.mark.e2e
def test_bad_pretraining_values_name_the_valid_ones(run_smoke, override, message):
    with pytest.raises(ConfigError, match=message):
        run_smoke(override)


@pytest.mark.e2e
def test_pretraining_that_diverges_stops_the_run(run_smoke, monkeypatch):
    """NaN inputs from the 3rd pre-training minibatch: the report at update 5 of layer 1 stops the
    run with one line, before any fine-tuning from NaN weights."""
    crash_at(monkeypatch, 3, lambda: None, transform=lambda x: x * float("nan"))
    with pytest.raises(ConfigError, match="pre-training diverged: the reconstruction cost of "
                                          "layer 1 became nan by its update 5; lower pretrain.lr"):
        run_smoke("pretrain=dae")
