"""The rules of `dcn batch`, in-process and without encoding: which sources become which
outputs, which outputs are up to date, which are refused (fast; mutation-tested, #23)."""
import hashlib
import json
import os
import zlib
from pathlib import Path

import pytest

from codec.errors import DCNError
from codec.tools import batch_plan as plan

SETTINGS = {"to": "dcn", "model": "m@1", "quality": 4.0, "targets": None}


def write(path: Path, data: bytes = b"data", mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def converted(tmp_path, data: bytes = b"source") -> plan.Job:
    """One source, its output and its record, as a finished conversion leaves them."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "a" / "x.png", data, mtime_ns=1_000_000_000_000)
    [job] = plan.find_jobs(src, dst, "dcn", [], [])
    write(job.dst, b"output")
    plan.write_record(job, SETTINGS)
    return job


def test_find_jobs_maps_sources_to_outputs_and_records(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for name in ("b.PNG", "a/c.jpg", "a/d.txt", "e.dcn", "a/z/f.webp"):
        write(src / name)
    write(src / "a" / ".g.png.dcn-host-123-abc.tmp")  # a temporary of a conversion (files.py): not a source
    write(src / "a" / ".g.png")  # a hidden image is a source
    jobs = plan.find_jobs(src, dst, "dcn", [], [])
    assert [j.rel for j in jobs] == ["b.PNG", "a/.g.png", "a/c.jpg", "a/z/f.webp"]  # sorted per folder, top folder first
    assert [j.dst for j in jobs] == [dst.resolve() / p for p in ("b.dcn", "a/.g.dcn", "a/c.dcn", "a/z/f.dcn")]
    assert all(j.src == (src / j.rel).resolve() for j in jobs)
    assert jobs[1].record.name == hashlib.sha1(b"a/.g.dcn").hexdigest()[:20] + ".json"  # runs find their records
    records = {j.record for j in jobs}
    assert len(records) == 4 and all(r.parent == dst.resolve() / plan.RECORDS and r.suffix == ".json"
                                     for r in records)
    assert [j.rel for j in plan.find_jobs(src, dst, "png", [], [])] == ["e.dcn"]  # decoding takes .dcn only
    assert plan.find_jobs(src, dst, ".png", [], [])[0].dst == dst.resolve() / "e.png"


def test_include_exclude_and_an_output_inside_the_source(tmp_path):
    src = tmp_path / "src"
    for name in ("a/x.png", "a/y.png", "b/x.png", "top.png"):
        write(src / name)
    rels = lambda inc, exc, dst=tmp_path / "dst": [j.rel for j in plan.find_jobs(src, dst, "dcn", inc, exc)]
    assert rels(["a/*"], []) == ["a/x.png", "a/y.png"]
    assert rels(["a/*", "top*"], []) == ["top.png", "a/x.png", "a/y.png"]
    assert rels([], ["*/x.png"]) == ["top.png", "a/y.png"]
    assert rels(["a/*"], ["*y*"]) == ["a/x.png"]
    assert rels(["*/y.png"], []) == ["a/y.png"]  # a file left out does not end its folder's listing
    assert rels([], [], dst=src / "b") == ["top.png", "a/x.png", "a/y.png"]  # the output folder is not a source


def test_collisions_name_every_source_of_a_shared_output(tmp_path):
    src = tmp_path / "src"
    for name in ("x.png", "x.jpg", "y.png", "Z.png", "z.tif"):
        write(src / name)
    why = plan.collisions(plan.find_jobs(src, tmp_path / "dst", "dcn", [], []))
    assert set(why) == {"x.png", "x.jpg", "Z.png", "z.tif"}
    assert "x.jpg, x.png would all write x.dcn" in why["x.png"] and why["x.png"] == why["x.jpg"]
    assert why["z.tif"] == why["Z.png"] == "Z.png, z.tif would all write Z.dcn: not converted (rename one)"
    assert plan.collisions([]) == {}


def test_a_fresh_conversion_is_up_to_date(tmp_path):
    job = converted(tmp_path)
    record = json.loads(job.record.read_text())
    assert record["output"] == "x.dcn" and record["source"] == "a/x.png" and record["settings"] == SETTINGS
    assert record["source_size"] == 6 and record["source_mtime_ns"] == 1_000_000_000_000
    assert record["output_size"] == 6 and record["output_mtime_ns"] == job.dst.stat().st_mtime_ns
    assert plan.up_to_date(job, SETTINGS)


@pytest.mark.parametrize("change", ["quality", "model", "extra setting", "missing setting"])
def test_other_settings_are_not_up_to_date(tmp_path, change):
    job = converted(tmp_path)
    other = dict(SETTINGS)
    if change == "extra setting":
        other["effort"] = 2
    elif change == "missing setting":
        del other["targets"]
    else:
        other[change] = "other"
    assert not plan.up_to_date(job, other)


def test_an_edited_or_replaced_output_is_redone(tmp_path):
    job = converted(tmp_path)
    st = job.dst.stat()
    write(job.dst, b"OUTPUT", mtime_ns=st.st_mtime_ns)  # same size and time: cannot be told apart
    assert plan.up_to_date(job, SETTINGS)
    write(job.dst, b"output", mtime_ns=st.st_mtime_ns + 1)  # touched
    assert not plan.up_to_date(job, SETTINGS)
    write(job.dst, b"outputs", mtime_ns=st.st_mtime_ns)  # another size
    assert not plan.up_to_date(job, SETTINGS)
    job.dst.unlink()
    assert not plan.up_to_date(job, SETTINGS)


def test_a_changed_source_is_redone_and_a_touched_one_is_not(tmp_path):
    job = converted(tmp_path)
    write(job.src, b"SOURCE", mtime_ns=1_000_000_000_000)  # same size, same time, other content: trusted
    assert plan.up_to_date(job, SETTINGS)
    write(job.src, b"source", mtime_ns=2_000_000_000_000)  # touched: same content
    assert plan.up_to_date(job, SETTINGS)
    write(job.src, b"SOURCE", mtime_ns=2_000_000_000_000)  # edited: newer, same size
    assert not plan.up_to_date(job, SETTINGS)
    write(job.src, b"SOURCE", mtime_ns=1)  # replaced by an older file (cp -p)
    assert not plan.up_to_date(job, SETTINGS)
    write(job.src, b"sources", mtime_ns=1_000_000_000_000)  # another size
    assert not plan.up_to_date(job, SETTINGS)
    job.src.unlink()
    assert not plan.up_to_date(job, SETTINGS)


@pytest.mark.parametrize("record", [None, b"{not json", b"[1, 2]", b'{"output": "other.dcn"}', b"{}"])
def test_a_missing_or_foreign_record_is_not_up_to_date(tmp_path, record):
    job = converted(tmp_path)
    good = json.loads(job.record.read_text())
    if record is None:
        job.record.unlink()
    else:
        job.record.write_bytes(record)
    assert not plan.up_to_date(job, SETTINGS)
    job.record.write_text(json.dumps(good))
    assert plan.up_to_date(job, SETTINGS)
    job.record.write_text(json.dumps(dict(good, output="other.dcn")))  # another output's record, else the same
    assert not plan.up_to_date(job, SETTINGS)


def test_records_of_several_outputs_share_the_folder(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for name in ("a.png", "b/c.png"):
        write(src / name)
    jobs = plan.find_jobs(src, dst, "dcn", [], [])
    for job in jobs:
        write(job.dst, b"output")
        plan.write_record(job, SETTINGS)
    plan.write_record(jobs[0], SETTINGS)  # redone: its record replaced
    assert all(plan.up_to_date(job, SETTINGS) for job in jobs)
    assert sorted(p.name for p in (dst / plan.RECORDS).iterdir()) == sorted(j.record.name for j in jobs)


def test_outputs_in_the_source_tree_not_written_by_batch_are_foreign(tmp_path):
    src = tmp_path / "tree"
    write(src / "x.png")
    [job] = plan.find_jobs(src, src, "dcn", [], [])
    assert not plan.foreign_output(job, src)  # nothing there yet
    write(job.dst, b"the user's own file")
    assert plan.foreign_output(job, src)
    plan.write_record(job, SETTINGS)
    assert not plan.foreign_output(job, src)  # written by batch: may be redone
    outside = tmp_path / "out"
    [job] = plan.find_jobs(src, outside, "dcn", [], [])
    write(job.dst, b"an old output")
    assert not plan.foreign_output(job, src)  # outside the source tree: the output folder is batch's


def test_shards_split_by_path_alone():
    rels = [f"d{i % 7}/f{i}.png" for i in range(200)]
    for n in (1, 2, 3, 8):
        owners = [[k for k in range(n) if plan.in_shard(r, k, n)] for r in rels]
        assert all(o == [zlib.crc32(r.encode()) % n] for o, r in zip(owners, rels))
    assert len({r for r in rels if plan.in_shard(r, 0, 2)}) not in (0, 200)


@pytest.mark.parametrize("shard, env, expected", [
    ("1/1", {}, (0, 1)), ("8/8", {}, (7, 8)), ("3/5", {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "9"}, (2, 5)),
    (None, {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "3"}, (2, 3)),
    (None, {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "1"}, (0, 1)),
    (None, {"SLURM_ARRAY_TASK_ID": "2"}, (0, 1)),  # no count: not an array job
    (None, {"JOB_COMPLETION_INDEX": "3", "DCN_SHARD_COUNT": "4"}, (3, 4)),
    (None, {"JOB_COMPLETION_INDEX": "0", "DCN_SHARD_COUNT": "1"}, (0, 1)),
    (None, {}, (0, 1)),
])
def test_shard_sources(shard, env, expected):
    assert plan.parse_shard(shard, None, env) == expected


def test_the_shard_count_option_serves_indexed_jobs():
    assert plan.parse_shard(None, 6, {"JOB_COMPLETION_INDEX": "2"}) == (2, 6)
    assert plan.parse_shard(None, 6, {"JOB_COMPLETION_INDEX": "2", "DCN_SHARD_COUNT": "3"}) == (2, 6)
    assert plan.parse_shard("1/2", 6, {"JOB_COMPLETION_INDEX": "5"}) == (0, 2)  # --shard wins


@pytest.mark.parametrize("shard, count, env, message", [
    ("0/3", None, {}, "--shard '0/3': K must be between 1 and N"),
    (None, 1, {"JOB_COMPLETION_INDEX": "1"}, "shard JOB_COMPLETION_INDEX = 1 of 1: must be 0 to 0"),
    ("4/3", None, {}, "--shard '4/3': K must be between 1 and N"),
    ("2", None, {}, "--shard '2': expected K/N, e.g. 2/8"),
    ("a/b", None, {}, "--shard 'a/b': expected K/N, e.g. 2/8"),
    (None, None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3"},
     "shard SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN = 3 of 3: must be 0 to 2"),
    (None, None, {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"},
     "shard SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN = -1 of 3: must be 0 to 2"),
    (None, None, {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "3"}, "SLURM_ARRAY_TASK_ID='x': not an integer"),
    (None, None, {"JOB_COMPLETION_INDEX": "2"},
     "JOB_COMPLETION_INDEX is set: give the number of shards with --shard-count"),
    (None, 0, {"JOB_COMPLETION_INDEX": "0", "DCN_SHARD_COUNT": "0"},
     "JOB_COMPLETION_INDEX is set: give the number of shards with --shard-count"),
    (None, -2, {"JOB_COMPLETION_INDEX": "0"}, "shard count -2: must be at least 1"),
    (None, 2, {"JOB_COMPLETION_INDEX": "2"}, "shard JOB_COMPLETION_INDEX = 2 of 2: must be 0 to 1"),
])
def test_bad_shards_are_refused_in_words(shard, count, env, message):
    with pytest.raises(DCNError) as e:
        plan.parse_shard(shard, count, env)
    assert str(e.value) == message
