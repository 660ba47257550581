"""Chinese data: GB18030 / GBK detection, vocabulary coverage, and a Chinese model through the whole flow."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from core import data as data_module
from core import vocabulary
from core.data import ColumnMapping, DataLoadError, apply_mapping, decode_bytes, read_line_files, read_table
from core.models import load_classifier, load_tokenizer
from core.scoring import score_dataset
from core.training import TrainConfig, fine_tune
from ui.i18n import t

REPO = Path(__file__).resolve().parents[1]
APP_TIMEOUT = 120

# Real review sentences; every character is in GB2312, so GBK and GB18030 encode them the same way.
CHINESE_SENTENCES = (
    "这部电影的剧情非常精彩，演员的表演也很出色。",
    "服务态度太差了，再也不会来这家餐厅吃饭。",
    "物流很快，包装完好，质量不错，推荐购买！",
    "房间很小而且有异味，隔音效果也不好。",
)
# U+4DB6 is outside GBK, so GB18030 stores it in four bytes; U+20000 is outside the BMP.
GB18030_ONLY_TEXT = "生僻字䶶与𠀀也能读取"
POSITIVE_CHARACTER = "好"
NEGATIVE_CHARACTER = "差"
FILLER_CHARACTERS = tuple("这部电影剧情演员音乐画面节奏故事结局真的很非常有点")
PUNCTUATION = ("，", "。", "！")


# --------------------------------------------------------------------------- fixtures


def chinese_rows(count: int, *, seed: int) -> pd.DataFrame:
    """Return ``count`` distinct Chinese sentences labelled by the one keyword character they contain.

    Even rows contain 好 and are labelled ``正面``; odd rows contain 差 and are labelled ``负面``.
    """
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    rows: list[tuple[str, str]] = []
    while len(rows) < count:
        positive = len(rows) % 2 == 0
        characters = list(rng.choice(FILLER_CHARACTERS, size=int(rng.integers(4, 10))))
        characters.insert(int(rng.integers(0, len(characters) + 1)), POSITIVE_CHARACTER if positive else NEGATIVE_CHARACTER)
        text = "".join(characters) + str(rng.choice(PUNCTUATION))
        if text in seen:
            continue
        seen.add(text)
        rows.append((text, "正面" if positive else "负面"))
    return pd.DataFrame(rows, columns=["text", "label"])


@pytest.fixture(scope="session")
def chinese_model_dir(tmp_path_factory) -> Path:
    """Build a 1-layer BERT classifier whose WordPiece vocabulary is a few dozen Chinese characters."""
    folder = tmp_path_factory.mktemp("tiny-chinese-bert")
    characters = sorted({POSITIVE_CHARACTER, NEGATIVE_CHARACTER, *FILLER_CHARACTERS, *PUNCTUATION})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), model_max_length=64)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=2,
    )
    torch.manual_seed(0)
    checkpoint = folder / "checkpoint"
    BertForSequenceClassification(config).save_pretrained(checkpoint, safe_serialization=True)
    tokenizer.save_pretrained(checkpoint)
    return checkpoint


@pytest.fixture(scope="session")
def chinese_tokenizer(chinese_model_dir):
    return load_tokenizer(chinese_model_dir)


def chinese_csv_bytes(encoding: str, count: int = 48) -> bytes:
    rows = chinese_rows(count, seed=0)
    lines = ["id,text,label"] + [f"r{index},{text},{label}" for index, (text, label) in enumerate(rows.itertuples(index=False))]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "gb2312"])
def test_decode_chinese_sentences(encoding):
    raw = "\n".join(CHINESE_SENTENCES).encode(encoding)

    text, used, warnings = decode_bytes(raw, name="reviews.txt")

    assert text == "\n".join(CHINESE_SENTENCES)
    assert used == "gb18030"
    assert len(warnings) == 1
    assert warnings[0].startswith("reviews.txt is not valid UTF-8")
    assert "read as GB18030" in warnings[0]


def test_decode_gb18030_four_byte_characters():
    raw = GB18030_ONLY_TEXT.encode("gb18030")

    text, used, _ = decode_bytes(raw)

    assert text == GB18030_ONLY_TEXT
    assert used == "gb18030"


def test_decode_gb18030_invalid_byte_replaced():
    # One stray byte in otherwise Chinese text: keep the text, replace the byte and warn.
    raw = CHINESE_SENTENCES[0].encode("gbk") + b"\x80" + CHINESE_SENTENCES[1].encode("gbk")

    text, used, warnings = decode_bytes(raw, name="broken.txt")

    assert used == "gb18030"
    assert text == CHINESE_SENTENCES[0] + "\ufffd" + CHINESE_SENTENCES[1]
    assert "1 byte sequence(s) are not valid GB18030" in warnings[0]


@pytest.mark.parametrize(
    "text",
    [
        "café au lait, crème brûlée",
        "naïve façade, Zürich and Köln",
        "Ærø, smørrebrød — “quoted” … and more",
        "señor niño año",
    ],
)
def test_decode_western_text_stays_cp1252(text):
    raw = text.encode("cp1252")

    decoded, used, warnings = decode_bytes(raw, name="western.txt")

    assert decoded == text
    assert used == "windows-1252"
    assert "Windows-1252" in warnings[0]


@pytest.mark.parametrize("encoding", ["gb18030", "GBK", "cp936", "gb2312"])
def test_decode_explicit_gb_encoding(encoding):
    raw = (CHINESE_SENTENCES[0] + GB18030_ONLY_TEXT).encode("gb18030")

    text, used, warnings = decode_bytes(raw, encoding=encoding)

    assert text == CHINESE_SENTENCES[0] + GB18030_ONLY_TEXT
    assert used == "gb18030"
    assert warnings == []


def test_decode_explicit_gb18030_rejects_bad_bytes():
    with pytest.raises(DataLoadError, match=r"bytes at line 2 are not valid gb18030") as excinfo:
        decode_bytes("第一行\n".encode("gbk") + b"\x80\x20", encoding="gb18030", name="bad.txt")
    assert "bad.txt" in str(excinfo.value)


def test_read_mixed_ascii_chinese_csv():
    raw = "id,text,label\n1,这个 app 很好用 (5 stars),pos\n2,Bug 太多，体验很差,neg\n3,OK 吧，一般般,neutral\n".encode("gbk")

    table = read_table(raw, name="mixed.csv")
    dataset = apply_mapping(table, data_module.guess_mapping(table))

    assert table.encoding == "gb18030"
    assert table.format == "csv"
    assert dataset["text"].tolist() == ["这个 app 很好用 (5 stars)", "Bug 太多，体验很差", "OK 吧，一般般"]
    assert dataset["label"].tolist() == ["pos", "neg", "neutral"]


def test_read_chinese_line_files():
    files = [
        ("正面.txt", "\n".join(CHINESE_SENTENCES[::2]).encode("gb18030")),
        ("负面.txt", "\n".join(CHINESE_SENTENCES[1::2]).encode("gbk")),
    ]

    table = read_line_files(files)

    assert table.encoding == "gb18030"
    assert table.frame["label"].tolist() == ["正面", "正面", "负面", "负面"]
    assert table.frame["text"].tolist() == [*CHINESE_SENTENCES[::2], *CHINESE_SENTENCES[1::2]]


def test_rt_polarity_not_read_as_gb18030(shared_data_dir):
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        raw = (shared_data_dir / "rt-polarity" / name).read_bytes()

        assert not data_module.looks_like_gb18030(raw)


def test_demo_corpus_not_read_as_gb18030():
    from core import resources

    assert not data_module.looks_like_gb18030(resources.demo_corpus_path().read_bytes())


# --------------------------------------------------------------------------- vocabulary coverage


def test_coverage_chinese_tokenizer_on_chinese(chinese_tokenizer):
    texts = chinese_rows(40, seed=1)["text"].tolist()

    coverage = vocabulary.vocabulary_coverage(chinese_tokenizer, texts)

    assert coverage.texts == 40
    assert coverage.unknown_tokens == 0
    assert coverage.tokens == sum(len(text) for text in texts)  # one token per character
    assert not coverage.is_low


def test_coverage_english_tokenizer_on_chinese(tiny_tokenizer):
    coverage = vocabulary.vocabulary_coverage(tiny_tokenizer, list(CHINESE_SENTENCES))

    # The tiny English vocabulary contains no Chinese character, so every token is [UNK].
    assert coverage.unknown_share == 1.0
    assert coverage.mostly_unknown_texts == len(CHINESE_SENTENCES)
    assert coverage.unknown_token == "[UNK]"
    assert coverage.is_low


def test_coverage_builtin_model_on_chinese():
    tokenizer = load_tokenizer("builtin")

    coverage = vocabulary.vocabulary_coverage(tokenizer, list(CHINESE_SENTENCES))

    # The all-MiniLM-L6-v2 vocabulary contains 244 CJK ideographs, so most characters become [UNK].
    assert coverage.unknown_share > 0.5
    assert coverage.is_low


def test_coverage_chinese_tokenizer_on_english(chinese_tokenizer):
    coverage = vocabulary.vocabulary_coverage(chinese_tokenizer, ["a good film", "a bad plot"])

    assert coverage.unknown_share == 1.0
    assert coverage.is_low


def test_coverage_sample_is_seeded(chinese_tokenizer):
    texts = list(CHINESE_SENTENCES) + chinese_rows(30, seed=2)["text"].tolist()

    first = vocabulary.vocabulary_coverage(chinese_tokenizer, texts, sample_size=10, seed=3)
    second = vocabulary.vocabulary_coverage(chinese_tokenizer, texts, sample_size=10, seed=3)

    assert first == second
    assert first.texts == 10


def test_coverage_skips_empty_texts(chinese_tokenizer):
    coverage = vocabulary.vocabulary_coverage(chinese_tokenizer, ["", "   ", "很好。"])

    assert coverage.texts == 1
    assert coverage.tokens == 3


def test_coverage_without_unknown_token(chinese_tokenizer):
    class ByteLevelTokenizer:
        unk_token_id = None

    assert vocabulary.vocabulary_coverage(ByteLevelTokenizer(), ["很好"]) is None


def test_coverage_rejects_zero_sample(chinese_tokenizer):
    with pytest.raises(ValueError, match="sample_size must be at least 1; got 0"):
        vocabulary.vocabulary_coverage(chinese_tokenizer, ["很好"], sample_size=0)


def test_validation_report_has_coverage(tiny_tokenizer):
    table = read_table(chinese_csv_bytes("gbk"), name="reviews.csv")
    dataset = apply_mapping(table, ColumnMapping(text="text", label="label", id="id"))

    report = data_module.validate_dataset(dataset, tokenizer=tiny_tokenizer, max_length=32)

    assert report.vocabulary is not None
    assert report.vocabulary.is_low
    assert report.vocabulary.texts == 48


# --------------------------------------------------------------------------- the whole flow


def test_chinese_model_whole_flow(chinese_model_dir, tmp_path):
    table = read_table(chinese_csv_bytes("gbk", count=60), name="评论.csv")
    dataset = apply_mapping(table, data_module.guess_mapping(table))
    tokenizer = load_tokenizer(chinese_model_dir)
    report = data_module.validate_dataset(dataset, tokenizer=tokenizer, max_length=32)
    assert table.encoding == "gb18030"
    assert report.blocking == []
    assert report.vocabulary.unknown_tokens == 0

    config = TrainConfig(model=str(chinese_model_dir), epochs=1, learning_rate=5e-3, batch_size=8, max_length=32, device="cpu")
    result = fine_tune(dataset, config, output_dir=tmp_path / "chinese-run", data_info={"name": table.name})
    model, run_tokenizer = load_classifier(result.run_dir / "model")
    unseen = apply_mapping(
        data_module.RawTable(chinese_rows(10, seed=9), name="unseen.csv", format="csv"),
        ColumnMapping(text="text", label="label"),
    )
    scores = score_dataset(model, run_tokenizer, unseen, max_length=32)

    assert set(result.metrics["rows"]) == {"train", "validation", "test"}
    assert scores["text"].tolist() == unseen["text"].tolist()
    probabilities = scores[["prob:正面", "prob:负面"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert not scores["truncated"].any()


# --------------------------------------------------------------------------- Data page


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("UNCERTAINTY_EXPLORER_WORKSPACE", str(tmp_path))
    return tmp_path


def upload_on_data_page(model: str, raw: bytes, file_name: str) -> AppTest:
    from ui import state

    state.workspace_path.clear()
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    app.run()
    app.text_input(key="shared.model").set_value(model)
    app.radio(key="data.source").set_value("upload").run()
    app.file_uploader(key="data.uploads").set_value((file_name, raw, "text/csv")).run()
    return app


def test_data_page_warns_on_english_model(workspace):
    app = upload_on_data_page("builtin", chinese_csv_bytes("gbk"), "reviews.csv")
    warnings = [warning.value for warning in app.warning]

    assert not app.exception
    assert any("read as GB18030" in warning for warning in warnings)
    low = t("data.low_vocabulary", model="builtin", unknown=0, texts=0, token="", mostly=0)
    assert any(warning.startswith(low[:12]) for warning in warnings)


def test_data_page_chinese_model_no_warning(workspace, chinese_model_dir):
    app = upload_on_data_page(str(chinese_model_dir), chinese_csv_bytes("gb18030"), "reviews.csv")
    coverage = t("data.vocabulary_coverage", model=str(chinese_model_dir), unknown=0.0, texts=48, token="[UNK]")
    low = t("data.low_vocabulary", model=str(chinese_model_dir), unknown=0, texts=0, token="", mostly=0)

    assert not app.exception
    assert coverage in [caption.value for caption in app.caption]
    assert not any(warning.value.startswith(low[:12]) for warning in app.warning)


def _core_message_templates() -> dict[str, str]:
    """Return every ``Message(key, template, ...)`` written in ``core``, by key."""
    import ast

    found: dict[str, str] = {}
    for path in sorted((Path(__file__).resolve().parents[1] / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Message" and len(node.args) >= 2:
                key, template = (arg.value for arg in node.args[:2])
                found[key] = template
    return found


def test_core_messages_have_both_languages():
    from ui.i18n import STRINGS

    templates = _core_message_templates()
    assert len(templates) >= 7
    for key, template in templates.items():
        english, chinese = STRINGS[f"core.{key}"]
        assert english == template, key
        assert chinese and re.search(r"[\u4e00-\u9fff]", chinese), key


def test_core_warning_shown_in_chinese(shared_data_dir):
    from core.messages import Message
    from ui.i18n import t_message

    raw = (shared_data_dir / "rt-polarity" / "rt-polarity.neg").read_bytes()
    text, encoding, warnings = decode_bytes(raw, name="rt-polarity.neg")
    assert encoding == "windows-1252" and isinstance(warnings[0], Message)
    chinese = t_message(warnings[0], "zh")
    assert "rt-polarity.neg" in chinese
    assert "Windows-1252" in chinese
    assert "不是有效的 UTF-8" in chinese
    assert t_message(warnings[0], "en") == str(warnings[0])
    # A plain string (an error from a library) passes through unchanged.
    assert t_message("plain error", "zh") == "plain error"


def test_validation_blockers_translated():
    from ui.i18n import t_message

    table = data_module.RawTable(pd.DataFrame({"text": ["一", "二", "三"], "label": ["a", "a", "a"]}), name="x.csv",
                                 format="csv")
    report = data_module.validate_dataset(apply_mapping(table, ColumnMapping(text="text", label="label")))
    assert [problem.key for problem in report.blocking] == ["validate_too_few_classes"]
    assert t_message(report.blocking[0], "zh") == "带标签的行中只有 1 个类别，训练至少需要 2 个。请检查标签列。"


@pytest.mark.parametrize(
    ("original", "changed"),
    [("the film is good", "the fi1m is g00d"), ("这部电影很好看", "这部电影很难看"), ("", "new"), ("same", "same")],
)
def test_character_diff_rebuilds_both_texts(original, changed):
    from core.text_diff import character_diff

    pieces = character_diff(original, changed)
    assert "".join(p.text for p in pieces if p.operation != "insert") == original
    assert "".join(p.text for p in pieces if p.operation != "delete") == changed
    assert all(p.text for p in pieces)
