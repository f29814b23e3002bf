"""verify's Parquet check: every page of every column must decode, and a failure is worded by the full Arrow read.

The check decodes with Parquet's column readers (`scan_contents`) instead of building Arrow tables. It must
never pass a file that a full `pq.read_table` fails on, and it must word every failure as that read does.
Damage inside a dictionary page, a data page, a PLAIN (non-dictionary) column's page, the last row group, or a
cut column chunk is caught although the footer, which is all a check that only opens the file reads, is intact.
"""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from civic_archive import verify as verify_module
from civic_archive.storage import LocalStore

ROWS = 3000


def sample_table() -> pa.Table:
    """Dictionary-encoded and PLAIN strings, nulls, integers, timestamps and a list column."""
    n = ROWS
    return pa.table({"record_id": pa.array([f"r{i}" for i in range(n)]),
                     "text": pa.array([f"comment {i} " * (i % 50) if i % 7 else None for i in range(n)]),
                     "kind": pa.array([["post", "comment", "reply"][i % 3] for i in range(n)]),
                     "n": pa.array(range(n), pa.int64()),
                     "when": pa.array([i * 1000 for i in range(n)], pa.timestamp("us", tz="UTC")),
                     "tags": pa.array([[str(i)] * (i % 3) for i in range(n)])})


def sample_bytes() -> bytes:
    buf = io.BytesIO()
    # Small pages and row groups: several of each per column, and record_id written PLAIN (no dictionary).
    pq.write_table(sample_table(), buf, row_group_size=1000, compression="zstd", data_page_size=4096,
                   use_dictionary=["text", "kind", "tags.list.element"])
    return buf.getvalue()


SAMPLE = sample_bytes()


def problems(tmp_path, data: bytes) -> tuple[str | None, str | None, str | None]:
    """(a full read's problem, the in-process check's, the pool worker's) of `data` stored as a state file.
    The full read, single-threaded Arrow, is the check verify made before, and words every failure."""
    path = tmp_path / "f.parquet"
    path.write_bytes(data)
    try:
        pq.read_table(path, use_threads=False)
        full = None
    except Exception as exc:
        full = f"unreadable Parquet: {type(exc).__name__}: {exc}"
    here = verify_module.parquet_problem(LocalStore(str(tmp_path)), "f.parquet", "state")
    pooled = verify_module._parquet_path_problem(str(path), "state")
    return full, here, pooled


def page_ranges(data: bytes):
    """(name, start, end) of the dictionary page and the data pages of each column chunk of each row group."""
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
            end = start + col.total_compressed_size
            if col.has_dictionary_page:
                yield f"rg{g} {col.path_in_schema} dictionary page", col.dictionary_page_offset, col.data_page_offset
            yield f"rg{g} {col.path_in_schema} data pages", col.data_page_offset, end


def test_intact_file_passes(tmp_path):
    assert problems(tmp_path, SAMPLE) == (None, None, None)


@pytest.mark.parametrize("where", ["rg1 text dictionary page", "rg1 text data pages", "rg0 record_id data pages",
                                   "rg2 tags.list.element data pages", "rg2 n data pages"])
def test_damaged_page_is_caught_with_the_footer_intact(tmp_path, where):
    _, start, end = next(r for r in page_ranges(SAMPLE) if r[0] == where)
    middle = (start + end) // 2
    bad = SAMPLE[:middle] + bytes(end - middle) + SAMPLE[end:]  # the second half of the page(s) zeroed
    pq.ParquetFile(pa.BufferReader(bad)).schema_arrow  # opening the file alone finds nothing wrong
    full, here, pooled = problems(tmp_path, bad)
    assert full is not None and here == pooled == full


def test_cut_column_chunk_is_caught(tmp_path):
    """The footer copied back after a column chunk cut short: its pages run into the next chunk's."""
    meta = pq.ParquetFile(pa.BufferReader(SAMPLE)).metadata
    footer_len = int.from_bytes(SAMPLE[-8:-4], "little") + 8
    _, start, end = next(r for r in page_ranges(SAMPLE) if r[0] == "rg2 text data pages")
    bad = SAMPLE[:start + (end - start) // 2] + SAMPLE[-footer_len:]
    assert meta.num_rows == ROWS
    full, here, pooled = problems(tmp_path, bad)
    assert full is not None and here == pooled == full


@st.composite
def damaged(draw) -> bytes:
    data = SAMPLE
    how = draw(st.sampled_from(["flip", "zero", "cut", "insert"]))
    i = draw(st.integers(0, len(data) - 1))
    if how == "flip":
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if how == "zero":
        n = draw(st.integers(1, 64))
        return data[:i] + bytes(len(data[i:i + n])) + data[i + n:]
    if how == "cut":
        return data[:i]
    return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged())
def test_never_more_lenient_than_a_full_read(tmp_path, data):
    full, here, pooled = problems(tmp_path, data)
    event(f"full read {'fails' if full else 'passes'}, check {'fails' if here else 'passes'}")
    assert here == pooled
    if full is not None:
        assert here == full  # caught, and worded as before
