"""Tests of unibridge.data on the real data files (UNIBRIDGE_DATA, default ../shared/data)."""

from __future__ import annotations


import pytest

from unibridge.data import (
    MASAKHANER,
    NER_LABELS,
    NLI_LABELS,
    STOCKMARK_JA,
    UPOS_TAGS,
    TaggedSentence,
    data_root,
    get_language,
    is_valid_iob2,
    map_ner_tag,
    read_alignment_file,
    read_conllu,
    read_iob,
    read_nli_tsv,
    read_parallel,
    read_stockmark_json,
    read_text,
    resolve_data_path,
    resolve_data_paths,
    split_sentences,
    to_iob2,
)
from unibridge.errors import ConfigError, DataError

from tests.conftest import DATA


@pytest.fixture(autouse=True, scope="module")
def _data_env():
    if not (DATA / "MANIFEST.md").is_file():
        pytest.skip(f"real data not found at {DATA} (set UNIBRIDGE_DATA)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNIBRIDGE_DATA", str(DATA))
        yield


# --------------------------------------------------------------------------- root


def test_data_root_and_relative_paths():
    assert data_root() == DATA.resolve()
    p = resolve_data_path("ud/UD_Amharic-ATT/am_att-ud-test.conllu")
    assert p.is_absolute() and p.is_file()
    assert resolve_data_path(p) == p


def test_glob_and_braces():
    paths = resolve_data_paths("ud/UD_Chinese-GSDSimp/*-ud-{dev,test}.conllu")
    assert [q.name for q in paths] == ["zh_gsdsimp-ud-dev.conllu", "zh_gsdsimp-ud-test.conllu"]
    assert len(read_conllu("ud/UD_Chinese-GSDSimp/*-ud-{dev,test}.conllu")) == 1000


def test_missing_file_names_path():
    with pytest.raises(DataError, match=r"data file not found: .*no/such\.conllu .*UNIBRIDGE_DATA="):
        read_conllu("no/such.conllu")
    with pytest.raises(DataError, match="no/such"):
        resolve_data_paths("no/such/*.txt")


def test_bad_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("UNIBRIDGE_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="UNIBRIDGE_DATA"):
        data_root()
    monkeypatch.delenv("UNIBRIDGE_DATA")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="UNIBRIDGE_DATA"):
        data_root()


# --------------------------------------------------------------------------- CoNLL-U


def test_conllu_amharic_counts_and_multiword_tokens_skipped():
    sents = read_conllu("ud/UD_Amharic-ATT/am_att-ud-test.conllu")
    assert len(sents) == 1074
    # first sentence: "1-3 መጽሐፉን" and "4-6 አስያዛት" are multiword ranges, not words
    assert sents[0] == TaggedSentence(
        ["መጽሐፍ", "ኡ", "ን", "አስያዝ", "ኧ", "ኣት", "።"],
        ["NOUN", "DET", "PART", "VERB", "PRON", "PRON", "PUNCT"],
    )
    assert all(t in UPOS_TAGS for s in sents for t in s.tags)
    assert all(len(s.tokens) == len(s.tags) for s in sents)


def test_conllu_english_train_and_limit():
    sents = read_conllu("ud/UD_English-EWT/en_ewt-ud-train.conllu")
    assert len(sents) == 12544
    assert sents[0].tokens[:3] == ["Al", "-", "Zaman"]
    assert sents[0].tags[:3] == ["PROPN", "PUNCT", "PROPN"]
    assert len(read_conllu("ud/UD_English-EWT/en_ewt-ud-train.conllu", limit=5)) == 5
    assert len(UPOS_TAGS) == 17


def test_conllu_empty_nodes_skipped(tmp_path):
    f = tmp_path / "x.conllu"
    rows = [
        "# text = a b",
        "1-2\tab\t_\t_\t_\t_\t_\t_\t_\t_",
        "1\ta\ta\tDET\t_\t_\t2\tdet\t_\t_",
        "2\tb\tb\tNOUN\t_\t_\t0\troot\t_\t_",
        "2.1\tc\tc\tVERB\t_\t_\t_\t_\t2:conj\t_",
    ]
    f.write_text("\n".join(rows) + "\n\n", encoding="utf-8")
    assert read_conllu(f) == [TaggedSentence(["a", "b"], ["DET", "NOUN"])]


def test_conllu_malformed_line(tmp_path):
    f = tmp_path / "bad.conllu"
    f.write_text("# c\n1\ta\ta\tDET\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.conllu:2: expected 10"):
        read_conllu(f)
    f.write_text("1\ta\ta\tNOPE\t_\t_\t0\troot\t_\t_\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a UPOS tag"):
        read_conllu(f)


# --------------------------------------------------------------------------- NER


def test_masakhaner_amharic():
    sents = read_iob("ner/masakhaner/amh/test.txt", label_map=MASAKHANER)
    assert len(sents) == 500
    assert sents[0].tokens[8:10] == ["ፍራንስዋ", "ዳዳ"]
    assert sents[0].tags == ["O"] * 8 + ["B-PER", "I-PER", "O", "O"]
    raw = read_iob("ner/masakhaner/amh/test.txt", raw=True)
    assert raw[2].tags[4:6] == ["B-DATE", "I-DATE"]
    assert sents[2].tags[4:6] == ["O", "O"]  # DATE -> O
    assert all(t in NER_LABELS for s in sents for t in s.tags)
    assert all(is_valid_iob2(s.tags) for s in sents)


def test_wikiann_indexed_columns():
    sents = read_iob("ner/wikiann_babelscape/en/train.conllu")
    assert len(sents) == 20000
    assert sents[0].tokens == [
        "R.H.", "Saunders", "(", "St.", "Lawrence", "River", ")", "(", "968", "MW", ")",
    ]
    assert sents[0].tags == ["B-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "I-ORG"] + ["O"] * 5


def test_transfer_corpus_arabic_repaired_to_iob2():
    # the raw file has I-X tags that open entities (e.g. a sentence starting with I-PER)
    sents = read_iob("ner/masakhaner2_transfer_corpus/ar/test.txt")
    assert len(sents) == 924
    assert sents[9].tokens[0] == "أنان" and sents[9].tags[0] == "B-PER"
    assert all(is_valid_iob2(s.tags) for s in sents)
    assert all(t in NER_LABELS for s in sents for t in s.tags)


def test_chinese_char_per_line():
    sents = read_iob("ner/zh_peoples_daily_zjy/example.dev")
    assert len(sents) == 2318
    assert sents[0].tokens[:5] == ["在", "这", "里", "恕", "弟"]
    assert all(len(tok) == 1 for s in sents[:50] for tok in s.tokens)


def test_stockmark_japanese_mapping():
    sents = read_stockmark_json("ner/ja_stockmark_wikipedia_ner/ner.json", limit=2)
    s = sents[1]  # レッドフォックス株式会社は、東京都千代田区に本社を置く...
    assert "".join(s.tokens).startswith("レッドフォックス株式会社は、東京都千代田区")
    assert s.tags[:13] == ["B-ORG"] + ["I-ORG"] * 11 + ["O"]
    assert s.tags[14:21] == ["B-LOC"] + ["I-LOC"] * 6
    assert map_ner_tag("B-製品名", STOCKMARK_JA) == "O"
    assert map_ner_tag("I-政治的組織名", STOCKMARK_JA) == "I-ORG"


def test_label_helpers():
    assert NER_LABELS == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    assert map_ner_tag("B-MISC", None) == "O"
    assert map_ner_tag("I-DATE", MASAKHANER) == "O"
    assert map_ner_tag("B-GPE", None) == "O"
    assert to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == [
        "B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG",
    ]
    assert not is_valid_iob2(["O", "I-PER"]) and is_valid_iob2(["B-PER", "I-PER", "O"])


def test_iob_malformed(tmp_path):
    f = tmp_path / "ner.txt"
    f.write_text("EU B-ORG\nrejects\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ner\.txt:2"):
        read_iob(f)
    f.write_text("EU ORG\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ner\.txt:1: 'ORG' is not an IOB tag"):
        read_iob(f)


# --------------------------------------------------------------------------- NLI


def test_americasnli_with_header():
    ex = read_nli_tsv("nli/americasnli/test/quy.tsv")
    assert len(ex) == 750
    assert ex[0].hypothesis == "Manam paywanqa kaqllamantaqa rimarqanichu."
    assert ex[0].label == "contradiction" and ex[0].language == "quy"
    assert {e.label for e in ex} == set(NLI_LABELS)
    assert len(read_nli_tsv("nli/americasnli/test/nah.tsv")) == 738


def test_xnli_dev_without_header():
    ex = read_nli_tsv("nli/xnli_dev_xtreme/dev-en.tsv")
    assert len(ex) == 2490  # the first line is data, not a header
    assert ex[0].premise == "And he said, Mama, I'm home."
    assert ex[0].label == "neutral" and ex[0].language is None
    assert not ex[0].label.endswith("\r")


def test_nli_bad_label(tmp_path):
    f = tmp_path / "nli.tsv"
    f.write_text("a\tb\tentailment\nc\td\tmaybe\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"nli\.tsv:2: unknown NLI label"):
        read_nli_tsv(f)


# --------------------------------------------------------------------------- parallel


def test_parallel_flores_and_ntrex():
    d = "parallel/flores200_devtest/devtest/"
    pairs = read_parallel(d + "eng_Latn.devtest", d + "amh_Ethi.devtest")
    assert len(pairs) == 1012
    assert pairs[0][0].startswith('"We now have 4-month-old mice that are non-diabetic')
    ntrex = read_parallel(
        "parallel/ntrex128/newstest2019-src.eng.txt", "parallel/ntrex128/newstest2019-ref.amh.txt", limit=3
    )
    assert len(ntrex) == 3 and not any(s.endswith("\r") or t.endswith("\r") for s, t in ntrex)


def test_parallel_line_count_mismatch():
    with pytest.raises(DataError, match="not line-aligned.*1012.*168"):
        read_parallel(
            "parallel/flores200_devtest/devtest/eng_Latn.devtest",
            "parallel/tatoeba_laser/tatoeba.amh-eng.amh",
        )


def test_alignment_file_sides():
    pairs = read_alignment_file("parallel/unibridge_alignment/flores/am/amh_Ethi-eng_Latn.txt")
    assert len(pairs) == 10
    tgt, src = pairs[0]
    assert src.startswith("On Monday, scientists from the Stanford University")
    assert tgt.startswith("ሰኞ")
    # in this file the target line comes first in each block
    pairs = read_alignment_file("parallel/unibridge_alignment/opus/aym/aym_Latn-eng_Latn.txt")
    assert len(pairs) == 10
    assert pairs[0][1].startswith("The sudden death of Bolivian hip-hop artist")
    assert pairs[0][0].startswith("Akatxamat Abraham")


def test_alignment_file_malformed(tmp_path):
    f = tmp_path / "amh_Ethi-eng_Latn.txt"
    f.write_text("eng_Latn: a\nrus_Cyrl: b\n", encoding="utf-8")
    with pytest.raises(DataError, match="do not match the file name"):
        read_alignment_file(f)


# --------------------------------------------------------------------------- text


def test_read_text_plain_and_masakhanews():
    lines = read_text("mono/masakhane_ner_text_by_language/amharic/amharic_news.txt")
    assert len(lines) == 9941
    news = read_text("mono/masakhanews/amh/dev.tsv")
    assert news[0] == "ዘጠኝ ግብ በተስተናገደበት ጨዋታ ማንቸስተር ሲቲ ድል ተቀዳጅቷል"  # headline
    assert news[1].startswith("በፈረንጆቹ የገና በዓል") and news[1].endswith("ጀምረዋል።")
    assert sum(s.endswith("።") for s in news) > 4000
    assert not any("\ufeff" in s for s in news)
    assert read_text("mono/masakhanews/amh/dev.tsv", column="headline", limit=2)[1].startswith("ለአውሮፓ")


def test_split_sentences():
    assert split_sentences('ሰላም ነው። እንዴት ነህ? "አዎ።" 3.5 ነው. Next') == [
        "ሰላም ነው።", "እንዴት ነህ?", '"አዎ።"', "3.5 ነው.", "Next",
    ]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "reader", [read_conllu, read_iob, read_nli_tsv, read_text, read_alignment_file, read_stockmark_json]
)
def test_empty_file(tmp_path, reader):
    f = tmp_path / "empty.txt"
    f.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty data file: .*empty\.txt"):
        reader(f)


def test_negative_limit():
    with pytest.raises(ConfigError, match="limit"):
        read_text("mono/conseggio_ligure/monolingual/lij.txt", limit=-1)


# --------------------------------------------------------------------------- languages


def test_languages():
    amh = get_language("amh")
    assert (amh.iso1, amh.name, amh.script, amh.flores) == ("am", "Amharic", "Ethi", "amh_Ethi")
    for code in ("am", "amh_Ethi", "AMHARIC"):
        assert get_language(code) is amh
    assert get_language("ar").flores == "arb_Arab"
    assert get_language("zh").flores == "zho_Hans" and get_language("zh").alignment_code == "zho_Hant"
    assert get_language("fil").iso3 == "tgl" and get_language("pus").iso3 == "pbt"
    assert get_language("olo").flores is None and get_language("olo").alignment_dir == "opus/olo"


def test_language_codes_match_alignment_files():
    for f in resolve_data_paths("parallel/unibridge_alignment/*/*/*.txt"):
        tgt, src = f.stem.split("-")
        lang = get_language(tgt)
        assert lang.alignment_code == tgt
        assert f.parent.relative_to(f.parents[2]).as_posix() == lang.alignment_dir
        assert get_language(src).alignment_code == src


def test_unknown_language():
    with pytest.raises(ConfigError, match=r"unknown language code 'xx': neither in the project's table nor"):
        get_language("xx")
    with pytest.raises(ConfigError, match=r"unknown language code 'xqz'"):
        get_language("xqz")
    with pytest.raises(ConfigError, match=r"did you mean 'amh', 'amh_ethi', 'am'\?"):
        get_language("amhh")


def test_a_language_outside_the_table_is_resolved_from_the_registry():
    cop, sat = get_language("cop"), get_language("Santali")
    assert (cop.iso3, cop.name, cop.script, cop.flores, cop.alignment_dir) == ("cop", "Coptic", "Copt", None, None)
    assert (sat.iso3, sat.iso1, sat.name, sat.script) == ("sat", None, "Santali", "Olck")
    assert get_language("bo").iso3 == get_language("bod").iso3 == "bod" and get_language("bo").iso1 == "bo"
    assert get_language("sat-Olck") == sat
    assert get_language("am") is get_language("amh")  # the table first: its FLORES code and alignment folder


# --------------------------------------------------------------------------- SIB-200 topics


def test_topic_reader_on_the_shared_sib200_files():
    from unibridge.data import SIB_TOPICS, read_topic_tsv

    train = read_topic_tsv("sib200/sat_Olck/train.tsv")
    assert len(train) == 701 and len(read_topic_tsv("sib200/sat_Olck/test.tsv")) == 204
    assert (train[0].id, train[0].label) == ("431", "geography") and train[0].text.startswith("ᱛᱩᱨᱠᱤ")
    assert {x.label for x in train} == set(SIB_TOPICS) and len(SIB_TOPICS) == 7
    assert len(read_topic_tsv(["sib200/sat_Olck/train.tsv", "sib200/sat_Olck/dev.tsv"], limit=705)) == 705


def test_topic_reader_errors_name_file_and_line(tmp_path):
    from unibridge.data import read_topic_tsv

    f = tmp_path / "t.tsv"
    f.write_text("index_id\tcategory\ttext\n1\tSports\tA match.\n", encoding="utf-8")
    (x,) = read_topic_tsv(f)
    assert (x.id, x.label, x.text) == ("1", "sports", "A match.")  # case of the label ignored
    cases = {"index_id\tcategory\ttext\n1\tsports\tA.\n2\tweather\tB.\n": r"t.tsv:3: unknown topic 'weather'",
             "index_id\tcategory\ttext\n1\tsports\n": r"t.tsv:2: expected 3 tab-separated columns, found 2",
             "index_id\ttopic\ttext\n1\tsports\tA.\n": r"t.tsv:1: the header needs the column\(s\) category",
             "index_id\tcategory\ttext\n1\tsports\t \n": r"t.tsv:2: empty text",
             "index_id\tcategory\ttext\n": r"no examples in topic file"}
    for text, message in cases.items():
        f.write_text(text, encoding="utf-8")
        with pytest.raises(DataError, match=message):
            read_topic_tsv(f)


def test_parallel_pairs_are_joined_on_index_id(tmp_path):
    from unibridge.data import read_id_aligned

    tgt, src = tmp_path / "tgt.tsv", tmp_path / "src.tsv"
    tgt.write_text("index_id\tcategory\ttext\n3\ttravel\tT3\n1\ttravel\tT1\n8\ttravel\tT8\n", encoding="utf-8")
    src.write_text("index_id\tcategory\ttext\n1\ttravel\tS1\n3\ttravel\tS3\n5\ttravel\tS5\n", encoding="utf-8")
    assert read_id_aligned(tgt, src) == [("T3", "S3"), ("T1", "S1")]  # the target's order; 8 and 5 unmatched
    assert read_id_aligned(tgt, src, limit=1) == [("T3", "S3")]
    real = read_id_aligned("sib200/sat_Olck/train.tsv", "sib200/eng_Latn/train.tsv", limit=10)
    assert len(real) == 10 and real[0][1].startswith("Turkey is encircled by seas")
    src.write_text("index_id\ttext\n5\tS5\n", encoding="utf-8")
    with pytest.raises(DataError, match="share no index_id"):
        read_id_aligned(tgt, src)
    src.write_text("index_id\ttext\n3\tS3\n3\tS3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"src.tsv:3: index_id '3' repeats"):
        read_id_aligned(tgt, src)


# --------------------------------------------------------------------------- Hugging Face datasets


@pytest.fixture()
def hf_mirror(tmp_path, monkeypatch):
    """A local folder of parquet splits with ClassLabel features (as a hub dataset stores them),
    the cache under tmp_path, and the library kept offline."""
    import datasets
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    monkeypatch.setenv("UNIBRIDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    root = tmp_path / "mirror"
    words = Sequence(Value("string"))
    Dataset.from_dict(
        {"tokens": [["Addis", "Abeba", "ነው", "።"], ["ቤት", "ዉ"]], "upos": [[10, 10, 16, 1], [0, 13]]},
        features=Features({"tokens": words, "upos": Sequence(ClassLabel(names=[
            "NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ", "PROPN", "PRON",
            "X", "_", "ADV", "INTJ", "VERB", "AUX"]))}),
    ).to_parquet(str(root / "ud" / "test.parquet"))
    Dataset.from_dict(
        {"tokens": [["Abebe", "went", "to", "New", "York"]], "ner_tags": [[1, 0, 0, 5, 6]]},
        features=Features({"tokens": words, "ner_tags": Sequence(ClassLabel(names=[
            "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]))}),
    ).to_parquet(str(root / "ner" / "test.parquet"))
    Dataset.from_dict(
        {"premise": ["A man\tsleeps.", "x"], "hypothesis": ["He rests.", "y"], "label": [0, -1]},
        features=Features({"premise": Value("string"), "hypothesis": Value("string"),
                           "label": ClassLabel(names=["entailment", "neutral", "contradiction"])}),
    ).to_parquet(str(root / "nli" / "validation.parquet"))
    Dataset.from_dict({"text": ["One. Two!", "Three.", "Four."]}).to_parquet(str(root / "wiki" / "train.parquet"))
    Dataset.from_dict({"index_id": [7, 9], "category": ["sports", "health"],
                       "text": ["A  match\tended.", "Eat well."]}).to_parquet(str(root / "sib" / "test.parquet"))
    return root


def test_hub_datasets_become_files_the_readers_read(hf_mirror):
    from unibridge.data import HFDataRef, read_conllu, read_iob, read_nli_tsv, read_text

    ud = HFDataRef(str(hf_mirror / "ud"), split="test")
    sents = read_conllu(ud)
    assert [s.tokens for s in sents] == [["Addis", "Abeba", "ነው", "።"], ["ቤት"]]  # UPOS "_" rows dropped
    assert [s.tags for s in sents] == [["PROPN", "PROPN", "VERB", "PUNCT"], ["NOUN"]]
    (ner,) = read_iob(HFDataRef(str(hf_mirror / "ner"), split="test"))
    assert ner.tags == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    nli = read_nli_tsv(HFDataRef(str(hf_mirror / "nli"), split="validation"))
    assert [(x.premise, x.hypothesis, x.label) for x in nli] == [("A man sleeps.", "He rests.", "entailment")]
    wiki = HFDataRef(str(hf_mirror / "wiki"), max_rows=2)  # streamed, first two rows
    assert read_text(wiki) == ["One.", "Two!", "Three."]
    from unibridge.data import read_topic_tsv

    sib = read_topic_tsv(HFDataRef(str(hf_mirror / "sib"), split="test"))  # SIB-200's columns: the shared TSV
    assert [(x.id, x.label, x.text) for x in sib] == [("7", "sports", "A match ended."), ("9", "health", "Eat well.")]


def test_hub_datasets_are_fetched_once(hf_mirror, monkeypatch):
    from unibridge.data import HFDataRef, read_conllu
    from unibridge.data import hf

    ref = HFDataRef(str(hf_mirror / "ud"), split="test")
    first = hf.materialize(ref)
    monkeypatch.setattr(hf, "_load", lambda ref: pytest.fail("fetched twice"))
    assert hf.materialize(ref) == first and first.suffix == ".conllu"
    assert len(read_conllu(ref)) == 2
    assert not list(first.parent.glob("*.tmp*"))


def test_hub_dataset_errors(hf_mirror):
    from unibridge.data import HFDataRef, read_text
    from unibridge.errors import DataError

    with pytest.raises(DataError, match="cannot load hf:.*through datasets.load_dataset"):
        read_text(HFDataRef(str(hf_mirror / "nowhere")))
    with pytest.raises(DataError, match="no 'body' column"):
        read_text(HFDataRef(str(hf_mirror / "wiki"), column="body"))
