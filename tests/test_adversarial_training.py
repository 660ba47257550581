"""Adversarial training (FGM, PGD) and training-split augmentation, with the tiny BERT.

Symbols: B batch size, L tokens, H embedding size.
"""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from streamlit.testing.v1 import AppTest

from core import cli
from core import data as data_module
from core import jobs, runs
from core.adversarial_training import (
    AdversarialSettings,
    EmbeddingPerturbation,
    adversarial_backward,
    fgm_perturbation,
    gradient_direction,
    per_text_norms,
    pgd_step,
    project_to_ball,
)
from core.batching import collate, encode_texts
from core.checkpoint import latest_checkpoint
from core.job_handlers import EXTRA_TRAIN_ROWS_FILE, submit_training
from core.models import load_classifier
from core.training import TrainConfig, TrainingCancelled, fine_tune, prepare_training_data
from core.training_augment import TrainingRows, noisy_copies, row_keys
from ui.i18n import t

# Settings with which the tiny BERT learns the keyword task within 3 epochs (as in test_training.py).
TINY_CONFIG = dict(epochs=3, batch_size=16, learning_rate=5e-3, max_length=32, seed=0, device="cpu")
# 300 keyword rows split 240 / 30 / 30, so an epoch of the train split is ceil(240 / 16) = 15 steps.
TRAIN_ROWS = 240
HELD_OUT_ROWS = 30
STEPS_PER_EPOCH = 15
REPO_ROOT = Path(__file__).resolve().parents[1]


def tiny_config(model_dir, **overrides) -> TrainConfig:
    return TrainConfig(model=str(model_dir), **{**TINY_CONFIG, **overrides})


def model_weights(run_dir) -> dict[str, torch.Tensor]:
    return load_file(runs.model_dir(run_dir) / "model.safetensors")


@pytest.fixture
def tiny_batch(tiny_model_dir):
    """Return the tiny BERT in eval mode (no dropout, so passes repeat exactly), a padded batch and its targets."""
    model, tokenizer = load_classifier(tiny_model_dir, label_names=["neg", "pos"])
    model.eval()
    texts = ["the good movie", "a bad plot with a long dark ending", "good", "the film was very bad"]
    encoded = encode_texts(tokenizer, texts, max_length=32)
    inputs = collate(encoded, np.arange(len(texts)), torch.device("cpu"))
    targets = torch.tensor([1, 0, 1, 0])
    return model, inputs, targets


def parameter_gradients(model) -> dict[str, torch.Tensor]:
    return {name: parameter.grad.detach().clone() for name, parameter in model.named_parameters() if parameter.grad is not None}


# --------------------------------------------------------------------------- perturbation functions


def test_fgm_perturbation_norm_is_epsilon():
    gradient = torch.randn(5, 7, 16, generator=torch.Generator().manual_seed(0))  # (B, L, H)

    perturbation = fgm_perturbation(gradient, epsilon=0.7)

    assert perturbation.shape == (5, 7, 16)
    # float32 norms of 112 entries are accurate to about 1e-7 relative.
    np.testing.assert_allclose(per_text_norms(perturbation).flatten().numpy(), 0.7, rtol=1e-5)
    cosine = torch.nn.functional.cosine_similarity(perturbation.flatten(1), gradient.flatten(1), dim=1)
    np.testing.assert_allclose(cosine.numpy(), 1.0, rtol=0, atol=1e-5)


def test_gradient_direction_zero_and_nonfinite():
    gradient = torch.ones(3, 2, 4)
    gradient[1] = 0.0
    gradient[2, 0, 0] = float("inf")

    direction = gradient_direction(gradient)

    assert torch.count_nonzero(direction[1]) == 0
    assert torch.count_nonzero(direction[2]) == 0
    assert float(per_text_norms(direction[:1])) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(("epsilon", "alpha"), [(1.0, 0.5), (0.1, 0.3), (2.0, 5.0), (0.05, 0.001)])
def test_pgd_perturbation_within_epsilon(epsilon, alpha):
    generator = torch.Generator().manual_seed(1)
    perturbation = torch.zeros(6, 9, 8)  # (B, L, H)
    for _ in range(25):
        gradient = torch.randn(6, 9, 8, generator=generator) * torch.rand(6, 1, 1, generator=generator) * 100
        perturbation = pgd_step(perturbation, gradient, alpha=alpha, epsilon=epsilon)
        norms = per_text_norms(perturbation).flatten()
        # Rescaling to the ball boundary rounds in float32, so allow one part in a million above epsilon.
        assert float(norms.max()) <= epsilon * (1 + 1e-6)


def test_pgd_first_step_has_norm_alpha():
    gradient = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(2))

    perturbation = pgd_step(torch.zeros(2, 4, 8), gradient, alpha=0.25, epsilon=1.0)

    np.testing.assert_allclose(per_text_norms(perturbation).flatten().numpy(), 0.25, rtol=1e-5)


def test_project_to_ball_keeps_inside_points():
    inside = torch.full((2, 3, 4), 0.01)

    assert torch.equal(project_to_ball(inside, 1.0), inside)


# --------------------------------------------------------------------------- one adversarial step


def test_fgm_gradients_are_clean_plus_adversarial(tiny_batch):
    model, inputs, targets = tiny_batch
    epsilon = 0.5
    embedding = model.get_input_embeddings()
    mask = inputs["attention_mask"].float().unsqueeze(-1)  # (B, L, 1)

    def loss_at(perturbation):
        embeddings = embedding(inputs["input_ids"]) + perturbation  # (B, L, H)
        logits = model(inputs_embeds=embeddings, attention_mask=inputs["attention_mask"]).logits
        return torch.nn.functional.cross_entropy(logits, targets)

    # Expected: clean gradient, the FGM perturbation from it, then the gradients of both losses summed.
    zero = torch.zeros((*inputs["input_ids"].shape, embedding.weight.shape[1]), requires_grad=True)
    (embedding_gradient,) = torch.autograd.grad(loss_at(zero), zero)
    expected_perturbation = fgm_perturbation(embedding_gradient * mask, epsilon=epsilon)
    model.zero_grad()
    (loss_at(torch.zeros_like(zero)) + loss_at(expected_perturbation)).backward()
    expected = parameter_gradients(model)

    model.zero_grad()
    perturber = EmbeddingPerturbation(model)

    def compute_loss():
        return torch.nn.functional.cross_entropy(model(**inputs).logits, targets)

    with perturber.attached():
        losses = adversarial_backward(
            compute_loss, lambda loss: loss, perturber, input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"], settings=AdversarialSettings("fgm", epsilon, 1, 0.1),
        )
    actual = parameter_gradients(model)

    assert actual.keys() == expected.keys()
    for name in expected:
        # Both sides run the same float32 operations in a different order (hook versus inputs_embeds).
        np.testing.assert_allclose(actual[name].numpy(), expected[name].numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    assert losses.perturbation_norm == pytest.approx(epsilon, rel=1e-5)
    assert float(losses.adversarial_loss) > float(losses.clean_loss)


def test_pgd_one_full_step_equals_fgm(tiny_batch):
    model, inputs, targets = tiny_batch
    perturber = EmbeddingPerturbation(model)

    def compute_loss():
        return torch.nn.functional.cross_entropy(model(**inputs).logits, targets)

    results = {}
    for settings in (AdversarialSettings("fgm", 0.8, 1, 0.1), AdversarialSettings("pgd", 0.8, 1, 0.8)):
        model.zero_grad()
        with perturber.attached():
            adversarial_backward(
                compute_loss, lambda loss: loss, perturber, input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"], settings=settings,
            )
        results[settings.mode] = parameter_gradients(model)

    for name, gradient in results["fgm"].items():
        np.testing.assert_allclose(results["pgd"][name].numpy(), gradient.numpy(), rtol=1e-5, atol=1e-7, err_msg=name)


def test_pgd_gradients_invariant_to_loss_scaling(tiny_batch):
    # GradScaler multiplies every loss by its scale before backward. The perturbation
    # uses only the gradient's direction, so the unscaled parameter gradients must not change.
    model, inputs, targets = tiny_batch
    perturber = EmbeddingPerturbation(model)
    settings = AdversarialSettings("pgd", 0.05, 3, 0.02)
    results = {}
    for scale in (1.0, 1024.0):
        model.zero_grad()
        with perturber.attached():
            adversarial_backward(
                lambda: torch.nn.functional.cross_entropy(model(**inputs).logits, targets),
                lambda loss, scale=scale: loss * scale, perturber, input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"], settings=settings,
            )
        results[scale] = {name: gradient / scale for name, gradient in parameter_gradients(model).items()}

    for name, gradient in results[1.0].items():
        np.testing.assert_allclose(results[1024.0][name].numpy(), gradient.numpy(), rtol=1e-5, atol=1e-7, err_msg=name)


def test_pgd_step_leaves_no_hook(tiny_batch):
    model, inputs, targets = tiny_batch
    embedding = model.get_input_embeddings()
    with torch.no_grad():
        before = model(**inputs).logits
    perturber = EmbeddingPerturbation(model)

    with perturber.attached():
        adversarial_backward(
            lambda: torch.nn.functional.cross_entropy(model(**inputs).logits, targets), lambda loss: loss, perturber,
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
            settings=AdversarialSettings("pgd", 1.0, 3, 0.5),
        )
    with torch.no_grad():
        after = model(**inputs).logits

    assert len(embedding._forward_hooks) == 0
    assert perturber.perturbation is None
    assert torch.equal(before, after)


def test_perturbation_removed_after_error(tiny_batch):
    model, inputs, _ = tiny_batch
    perturber = EmbeddingPerturbation(model)

    with pytest.raises(RuntimeError, match="boom"), perturber.attached():
        perturber.perturbation = torch.ones(1)
        raise RuntimeError("boom")

    assert len(model.get_input_embeddings()._forward_hooks) == 0
    assert perturber.perturbation is None


# --------------------------------------------------------------------------- adversarial fine-tuning


@pytest.mark.parametrize("mode", ["fgm", "pgd"])
def test_adversarial_run_learns_keyword(mode, keyword_dataset, tiny_model_dir, tmp_path):
    events = []
    result = fine_tune(
        keyword_dataset, tiny_config(tiny_model_dir, adversarial=mode), output_dir=tmp_path / mode,
        progress=events.append,
    )
    stored = json.loads((result.run_dir / "config.json").read_text(encoding="utf-8"))["train"]
    history = result.metrics["history"]

    # Clean training of the same settings reaches at least 0.9 (test_training.py). Chance is 0.5.
    assert result.metrics["splits"]["test"]["accuracy"] >= 0.9
    assert result.metrics["adversarial"]["mode"] == mode
    assert stored["adversarial"] == mode
    assert stored["adversarial_epsilon"] == pytest.approx(0.1, abs=1e-12)
    assert all(record["train_adversarial_loss"] > 0 for record in history)
    epsilon = result.metrics["adversarial"]["epsilon_in_embedding_units"]
    assert epsilon == pytest.approx(0.1 * result.metrics["adversarial"]["mean_token_embedding_norm"], rel=1e-12)
    assert all(0 < record["mean_perturbation_norm"] <= epsilon * (1 + 1e-6) for record in history)
    assert any(mode.upper() in event.message for event in events if event.phase == "prepare")
    assert any("adversarial loss" in event.message for event in events if event.phase == "evaluate")


@pytest.mark.parametrize(("adversarial", "augment"), [("pgd", "none"), ("fgm", "word")])
def test_cancelled_run_resumes_to_same_weights(adversarial, augment, keyword_dataset, tiny_model_dir, tmp_path):
    config = tiny_config(tiny_model_dir, epochs=2, adversarial=adversarial, augment=augment)
    reference = fine_tune(keyword_dataset, config, output_dir=tmp_path / "reference")
    checkpoint_dir = tmp_path / "checkpoint"
    polls = []

    def stop_mid_first_epoch():
        polls.append(1)
        return len(polls) > 7

    with pytest.raises(TrainingCancelled, match="at step 7 of"):
        fine_tune(
            keyword_dataset, config, output_dir=tmp_path / "resumed", checkpoint_dir=checkpoint_dir,
            should_stop=stop_mid_first_epoch,
        )
    saved_state = json.loads((latest_checkpoint(checkpoint_dir) / "state.json").read_text(encoding="utf-8"))
    resumed = fine_tune(keyword_dataset, config, output_dir=tmp_path / "resumed", checkpoint_dir=checkpoint_dir, resume=True)

    assert (saved_state["epoch"], saved_state["step_in_epoch"]) == (1, 7)
    expected, actual = model_weights(reference.run_dir), model_weights(resumed.run_dir)
    assert actual.keys() == expected.keys()
    for name in expected:
        # Both runs do the same float32 operations in the same order on the CPU, so 1e-6 allows only rounding noise.
        np.testing.assert_allclose(actual[name].numpy(), expected[name].numpy(), rtol=0, atol=1e-6, err_msg=name)
    for first, second in zip(reference.metrics["history"], resumed.metrics["history"]):
        assert second["train_loss"] == pytest.approx(first["train_loss"], abs=1e-6)
        assert second["train_adversarial_loss"] == pytest.approx(first["train_adversarial_loss"], abs=1e-6)


# --------------------------------------------------------------------------- augmentation


def test_noisy_copies_reproducible():
    texts = ["the good movie was very funny", "a bad plot"]

    first = noisy_copies(texts, [4, 9], kind="word", rate=0.5, copies=3, seed=0, epoch=1)
    again = noisy_copies(texts, [4, 9], kind="word", rate=0.5, copies=3, seed=0, epoch=1)
    next_epoch = noisy_copies(texts, [4, 9], kind="word", rate=0.5, copies=3, seed=0, epoch=2)
    alone = noisy_copies(texts[1:], [9], kind="word", rate=0.5, copies=3, seed=0, epoch=1)

    assert len(first) == 6
    assert first == again
    assert first != next_epoch
    assert alone == first[3:]  # a row's copies depend on its key, not on the other rows
    for copy in first[:3]:
        assert set(copy.split()) <= set(texts[0].split())


def test_training_rows_per_epoch(keyword_dataset, tiny_tokenizer):
    prepared = prepare_training_data(keyword_dataset, TrainConfig(seed=0))
    train = prepared[prepared["split"] == "train"]
    texts = train["text"].tolist()
    label_ids = (train["label"] == "pos").to_numpy(dtype=np.int64)
    rows = TrainingRows(
        train=encode_texts(tiny_tokenizer, texts, max_length=32), train_label_ids=label_ids, train_texts=texts,
        train_keys=row_keys(train), tokenizer=tiny_tokenizer, max_length=32, kind="character", rate=0.2, copies=2,
        seed=0,
    )

    encoded, epoch_labels = rows.for_epoch(1)

    assert rows.counts() == {"train": 240, "noisy_copies": 480, "extra": 0, "extra_dropped": 0, "per_epoch": 720}
    assert len(encoded) == 720
    assert epoch_labels.tolist() == [*label_ids.tolist(), *np.repeat(label_ids, 2).tolist()]
    assert encoded.input_ids[:240] == rows.train.input_ids


def test_augmented_run_keeps_splits(keyword_dataset, tiny_model_dir, tmp_path):
    config = tiny_config(tiny_model_dir, epochs=1, augment="word", augment_rate=0.3, augment_copies=2)
    events = []
    result = fine_tune(keyword_dataset, config, output_dir=tmp_path / "augmented", progress=events.append)
    predictions = runs.load_predictions(result.run_dir)
    unaugmented = prepare_training_data(keyword_dataset, replace(config, augment="none"))

    assert result.metrics["training_rows"] == {
        "train": TRAIN_ROWS, "noisy_copies": 2 * TRAIN_ROWS, "extra": 0, "extra_dropped": 0, "per_epoch": 3 * TRAIN_ROWS,
    }
    assert max(event.total_steps for event in events if event.phase == "train") == 3 * STEPS_PER_EPOCH
    assert result.metrics["rows"] == {"train": TRAIN_ROWS, "validation": HELD_OUT_ROWS, "test": HELD_OUT_ROWS}
    assert len(predictions) == len(keyword_dataset)
    assert predictions["text"].tolist() == unaugmented["text"].tolist()
    assert predictions["split"].tolist() == unaugmented["split"].tolist()
    assert result.metrics["augment"] == {"kind": "word", "rate": 0.3, "copies": 2}


def test_extra_rows_join_train_only(keyword_dataset, tiny_model_dir, tmp_path):
    config = tiny_config(tiny_model_dir, epochs=1)
    prepared = prepare_training_data(keyword_dataset, config)
    test_text = prepared.loc[prepared["split"] == "test", "text"].iloc[0]
    extra = pd.DataFrame(
        {"text": ["good good movie", "bad bad plot", "the good ending", test_text], "label": ["pos", "neg", "pos", "neg"]}
    )

    result = fine_tune(keyword_dataset, config, output_dir=tmp_path / "extra", extra_train_rows=extra)
    predictions = runs.load_predictions(result.run_dir)

    assert result.metrics["training_rows"]["extra"] == 3
    assert result.metrics["training_rows"]["extra_dropped"] == 1
    assert result.metrics["training_rows"]["per_epoch"] == TRAIN_ROWS + 3
    assert result.metrics["rows"] == {"train": TRAIN_ROWS, "validation": HELD_OUT_ROWS, "test": HELD_OUT_ROWS}
    assert predictions["split"].tolist() == prepared["split"].tolist()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (pd.DataFrame({"text": ["good"]}), "lacks the column\\(s\\) label. It needs"),
        (pd.DataFrame({"text": ["good", " "], "label": ["pos", "pos"]}), "row 1 has an empty text"),
        (pd.DataFrame({"text": ["good"], "label": [None]}), "row 0 has no label"),
        (pd.DataFrame({"text": ["good"], "label": ["neutral"]}), "label\\(s\\) 'neutral' that are not classes"),
    ],
)
def test_extra_rows_invalid(extra, message, keyword_dataset, tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match=message):
        fine_tune(keyword_dataset, tiny_config(tiny_model_dir), output_dir=tmp_path / "run", extra_train_rows=extra)
    assert list(tmp_path.iterdir()) == []


def test_submit_training_stores_extra_rows(keyword_dataset, tiny_model_dir, tmp_path):
    extra = pd.DataFrame({"text": ["good good movie", "bad bad plot"], "label": ["pos", "neg"], "source": ["a", "b"]})
    config = tiny_config(tiny_model_dir, epochs=1, adversarial="fgm")

    job = submit_training(tmp_path, keyword_dataset, config, extra_train_rows=extra)
    stored = pd.read_parquet(jobs.JobRegistry(tmp_path).job_dir(job.id) / EXTRA_TRAIN_ROWS_FILE)
    finished = jobs.wait(tmp_path, job.id, timeout=300)
    metrics = runs.read_json(Path(finished.result["run_dir"]), "metrics.json")

    assert stored.columns.tolist() == ["text", "label"]
    assert job.config["extra_train_rows"] == 2
    assert finished.state == "succeeded", finished.error
    assert metrics["training_rows"]["extra"] == 2
    assert metrics["adversarial"]["mode"] == "fgm"


# --------------------------------------------------------------------------- command line


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        check=False,
    )


def test_cli_trains_with_pgd_and_augmentation(tiny_model_dir, keyword_csv, tmp_path):
    extra = tmp_path / "extra.csv"
    pd.DataFrame({"text": ["good good movie", "bad bad plot"], "label": ["pos", "neg"]}).to_csv(extra, index=False)
    output = tmp_path / "run"

    process = run_cli(
        "--workspace", tmp_path / "workspace", "train", "--data", keyword_csv, "--model", tiny_model_dir,
        "--output", output, "--epochs", "1", "--batch-size", "16", "--learning-rate", "5e-3", "--max-length", "32",
        "--device", "cpu", "--adversarial", "pgd", "--adversarial-epsilon", "0.2", "--adversarial-steps", "2",
        "--adversarial-alpha", "0.1", "--augment", "word", "--augment-rate", "0.2", "--augment-copies", "2",
        "--extra-train-rows", extra,
    )
    stored = runs.read_json(output, "config.json")
    metrics = runs.read_json(output, "metrics.json")

    assert process.returncode == 0, process.stderr
    assert {key: stored["train"][key] for key in ("adversarial", "adversarial_steps", "augment", "augment_copies")} == {
        "adversarial": "pgd", "adversarial_steps": 2, "augment": "word", "augment_copies": 2,
    }
    assert stored["train"]["adversarial_epsilon"] == pytest.approx(0.2, abs=1e-12)
    assert stored["train"]["adversarial_alpha"] == pytest.approx(0.1, abs=1e-12)
    assert stored["train"]["augment_rate"] == pytest.approx(0.2, abs=1e-12)
    assert stored["data"]["extra_train_rows"] == str(extra)
    assert metrics["training_rows"]["per_epoch"] == 3 * TRAIN_ROWS + 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--adversarial-steps", "0"], "error: adversarial_steps must be a whole number from 1 to 20; got 0."),
        (["--augment-rate", "2"], "error: augment_rate must be in (0, 1]"),
    ],
)
def test_cli_rejects_invalid_values(flags, message, keyword_csv, tmp_path, capsys):
    status = cli.main(["--workspace", str(tmp_path), "train", "--data", str(keyword_csv), *flags])

    assert status == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(message)


def test_cli_rejects_unknown_mode(keyword_csv, tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["--workspace", str(tmp_path), "train", "--data", str(keyword_csv), "--adversarial", "freelb"])

    assert excinfo.value.code == 2
    assert "invalid choice: 'freelb'" in capsys.readouterr().err


# --------------------------------------------------------------------------- Train page


@pytest.fixture
def train_page(tmp_path, monkeypatch, tiny_model_dir):
    """Open the Train page on an empty workspace with the tiny BERT as the sidebar model."""
    from ui import state

    monkeypatch.setenv("UNCERTAINTY_EXPLORER_WORKSPACE", str(tmp_path))
    state.workspace_path.clear()  # the workspace comes from the environment set above
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    app.query_params["lang"] = "zh"
    app.run()
    app.switch_page("pages/train.py").run()
    app.text_input(key="shared.model").set_value(str(tiny_model_dir))
    app.number_input(key="train.epochs").set_value(1)
    app.number_input(key="train.max_rows").set_value(200)
    return app


def test_train_page_submits_adversarial_job(train_page, tmp_path):
    train_page.selectbox(key="train.adversarial").set_value("pgd")
    train_page.number_input(key="train.adversarial_steps").set_value(2)
    train_page.selectbox(key="train.augment").set_value("character")
    train_page.button[0].click().run()  # the form's submit button

    job_id = train_page.query_params.get("job")
    job_id = job_id[0] if isinstance(job_id, list) else job_id
    assert not train_page.exception
    assert job_id
    finished = jobs.wait(tmp_path, job_id, timeout=300)
    assert finished.state == "succeeded", finished.error
    assert finished.config["train"]["adversarial"] == "pgd"
    assert finished.config["train"]["adversarial_steps"] == 2
    assert finished.config["train"]["augment"] == "character"


def test_train_page_rejects_zero_epsilon(train_page):
    train_page.number_input(key="train.adversarial_epsilon").set_value(0.0)
    train_page.button[0].click().run()

    expected = t(
        "train.failed", language="zh",
        error="adversarial_epsilon must be a finite number above 0 (L2 norm per text, in multiples of the mean "
        "token-embedding norm); got 0.0.",
    )
    assert not train_page.exception
    assert [error.value for error in train_page.error] == [expected]
    assert "job" not in train_page.query_params


def test_train_page_labels_translated(train_page):
    labels = {box.label for box in train_page.selectbox} | {box.label for box in train_page.number_input}

    assert t("train.adversarial", language="zh") == "对抗训练"
    assert {t(key, language="zh") for key in ("train.adversarial", "train.adversarial_epsilon", "train.augment")} <= labels
    assert train_page.selectbox(key="train.augment").format_func("word") == "词级噪声"


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("adversarial", "freelb"),
        ("adversarial_epsilon", 0.0),
        ("adversarial_epsilon", -1.0),
        ("adversarial_epsilon", float("inf")),
        ("adversarial_steps", 0),
        ("adversarial_steps", 21),
        ("adversarial_steps", 2.5),
        ("adversarial_alpha", 0.0),
        ("augment", "synonym"),
        ("augment_rate", 0.0),
        ("augment_rate", 1.5),
        ("augment_copies", 0),
        ("augment_copies", 11),
    ],
)
def test_train_config_invalid_adversarial_field(field, value):
    config = replace(TrainConfig(), **{field: value})

    with pytest.raises(ValueError, match=f"^{field} must be .*; got {value!r}."):
        config.validate()


def test_train_config_adversarial_defaults():
    config = TrainConfig()

    config.validate()
    assert (config.adversarial, config.adversarial_steps) == ("none", 3)
    assert (config.adversarial_epsilon, config.adversarial_alpha) == (0.1, 0.05)
    assert (config.augment, config.augment_copies) == ("none", 1)


def test_train_config_round_trips_new_fields():
    config = TrainConfig(adversarial="pgd", adversarial_steps=5, augment="character", augment_copies=2)

    assert TrainConfig.from_dict(json.loads(json.dumps(config.__dict__))) == config


def test_row_keys_fall_back_to_position():
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})

    assert row_keys(frame).tolist() == [0, 1]
    assert row_keys(frame.assign(**{data_module.ROW_COLUMN: [7, 3]})).tolist() == [7, 3]
