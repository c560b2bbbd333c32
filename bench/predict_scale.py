"""Predicting a large folder: peak memory for 500 against 10,000 photos of mixed sizes, images/s of `seglab predict`
against the model's forward pass alone, Ctrl-C half-way then a rerun against an uninterrupted run, and torch
against ONNX Runtime with what --engine auto picks. Each phase runs on its own (each under 10 minutes on 2 cores):

    python -m bench.predict_scale --phase make        # 10,000 photos from oxford-pet-mini + a 2-epoch run
    python -m bench.predict_scale --phase rss         # 500 then 10,000 photos, each a child `seglab predict`
    python -m bench.predict_scale --phase rate        # forward alone (both ways) vs predict, the same 480 photos
    python -m bench.predict_scale --phase interrupt   # SIGINT at 5,000 of 10,000, rerun, compare results.csv
    python -m bench.predict_scale --phase engine      # auto's measurement (fresh cache), torch vs onnx predict
    python -m bench.predict_scale --phase table       # the table of the newest row of each phase

    python -m bench.predict_scale --phase rate --model unet   # the same on the paper's UNet (untrained)
    python -m bench.predict_scale --phase rate --image-size 256   # a ResNet34-UNet at the CLI's default size
    python -m bench.predict_scale --phase rss --image-size 256    # the 500 and 10,000 photos at that size

The photos are oxford-pet-mini's 300 resized (bilinear, JPEG quality 90) to long sides from 160 to 800 px (a
different size for nearly every photo, as an archive has), 10,000 in all. The model is a ResNet34-UNet at 256 px
(the default size), trained 2 epochs from scratch (the weights change the masks, not the speed); batch 8, the
CLI's default. Rows are appended to bench/predict_scale_results.jsonl with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).with_name("predict_scale_results.jsonl")
RUNS = ["runs"]  # the runs folder under --work: "runs" (the trained ResNet34-UNet) or "runs-unet" (--model unet)
SOURCE = Path("/work/shared/data/oxford-pet-mini")
COUNT = 10_000
SMALL = 500
RATE_IMAGES = 480
BATCH = 8
TRAIN = ["--model", "resnet34_unet", "--epochs", "2", "--batch-size", "16", "--device", "cpu",
         "--name", "scale"]


def photos_dir(work: Path, count: int) -> Path:
    return work / f"photos-{count}"


def make(work: Path, source: Path) -> dict:
    """The photos (10,000, and 500 / 480 as links to the first ones) and the run."""
    from PIL import Image

    originals = sorted((source / "images").glob("*.jpg"))
    folder = photos_dir(work, COUNT)
    folder.mkdir(parents=True, exist_ok=True)

    def one(index: int) -> tuple[int, int]:
        target = folder / f"photo{index:05d}.jpg"
        image = Image.open(originals[index % len(originals)]).convert("RGB")
        long_side = 160 + (index * 37) % 641  # 160..800 px
        scale = long_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        if not target.exists():
            image.resize(size, Image.Resampling.BILINEAR).save(target, quality=90)
        return size

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        sizes = list(pool.map(one, range(COUNT)))
    for count in (SMALL, RATE_IMAGES):
        linked = photos_dir(work, count)
        linked.mkdir(exist_ok=True)
        for index in range(count):
            link = linked / f"photo{index:05d}.jpg"
            if not link.exists():
                link.symlink_to(folder / link.name)
    trained_run(work, source, 224)
    pixels = [width * height for width, height in sizes]
    return {"photos": COUNT, "distinct_sizes": len(set(sizes)), "mean_megapixels": round(sum(pixels) / COUNT / 1e6, 3),
            "run": str(the_run(work))}


def trained_run(work: Path, source: Path, size: int) -> None:
    """The ResNet34-UNet of TRAIN at `size` px in the current runs folder, trained unless it is there."""
    runs = work / RUNS[0]
    if not any(runs.glob("*/checkpoints/best.pt")):
        subprocess.run([sys.executable, "-m", "tui.cli", "train", "--data", str(source), *TRAIN, "--image-size",
                        str(size), "--runs-dir", str(runs)], check=True, env=child_env(work))


def use_run_of_size(args: argparse.Namespace) -> None:
    """--image-size other than 224: the phase uses that size's own run (runs-SIZE), trained first if needed."""
    if args.image_size != 224:
        RUNS[0] = f"runs-{args.image_size}"
        trained_run(args.work, args.source, args.image_size)


def the_run(work: Path) -> Path:
    (checkpoint,) = (work / RUNS[0]).glob("*/checkpoints/best.pt")
    return checkpoint.parent.parent


def untrained_unet(work: Path) -> None:
    """The paper's UNet (width 64) at 256 px with fresh weights, for the rate phase only: its forward pass costs
    about five times a ResNet34-UNet's, so the per-image work at full size weighs less beside it."""
    from core.config import TrainConfig
    from core.models import build_model
    from core.runs.folders import create_run
    from core.training.checkpoints import save_checkpoint_atomically

    if any((work / RUNS[0]).glob("*/checkpoints/best.pt")):
        return
    config = TrainConfig(model="unet", data=str(SOURCE), image_size=256, width=64, device="cpu", name="scale")
    run = create_run(config, work / RUNS[0])
    save_checkpoint_atomically(run.checkpoint_path("best"), {"model": build_model("unet", width=64).state_dict(),
                                                            "epoch": 0, "config": run.load_config().to_dict()})


def child_env(work: Path, cache: Path | None = None) -> dict:
    return {**os.environ, "SEGLAB_CACHE_DIR": str(cache or work / "cache"), "SEGLAB_RUNS_DIR": str(work / RUNS[0])}


def predict_child(work: Path, args: list[str], report: Path, cache: Path | None = None) -> subprocess.Popen:
    """`seglab predict` in a child process that writes its peak RSS and exit code to `report` when it ends; started
    once earlier writes (a previous run's files, a deleted folder) are on disk, as forward_child is."""
    os.sync()
    code = ("import json, resource, sys\nfrom tui.cli import main\ntry:\n    main(sys.argv[2:])\n"
            "except SystemExit as error:\n    code = error.code\n"
            "json.dump({'code': code, 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},"
            " open(sys.argv[1], 'w'))\n")
    return subprocess.Popen([sys.executable, "-c", code, str(report), "predict", str(the_run(work)), *args],
                            env=child_env(work, cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, report: Path) -> dict:
    out, err = process.communicate()
    values = json.loads(report.read_text())
    values["stdout"], values["stderr_tail"] = out.strip().splitlines(), err.strip().splitlines()[-3:]
    return values


def summary_of(work: Path, name: str) -> dict:
    return json.loads((the_run(work) / "predictions" / name / "summary.json").read_text())


def fresh(work: Path, name: str) -> None:
    import shutil

    shutil.rmtree(the_run(work) / "predictions" / name, ignore_errors=True)


def rss(work: Path, engine: str, run_args: list[str]) -> dict:
    """Peak RSS and images/s of predicting 500 then 10,000 photos, each a child `seglab predict`; the forward pass
    alone (forward_child) just before and just after the 10,000, so their rate is compared with the model's own
    measured around it, not hours apart (the host's speed drifts by several percent in an hour)."""
    row = {"engine": engine}
    rss_run(work, engine, SMALL, row)
    before = forward_child(work, engine, run_args)
    rss_run(work, engine, COUNT, row)
    after = forward_child(work, engine, run_args)
    row["rss_ratio"] = round(row[f"peak_rss_mb_{COUNT}"] / row[f"peak_rss_mb_{SMALL}"], 3)
    for key in ("forward_images_s", "forward_lanes_images_s"):
        row[f"{key}_around"] = [round(before[key], 2), round(after[key], 2)]
    faster = max(statistics.mean(row[f"{key}_around"]) for key in ("forward_images_s", "forward_lanes_images_s"))
    row[f"predict_vs_forward_{COUNT}"] = round(row[f"images_s_{COUNT}"] / faster, 3)
    row[f"predict_vs_forward_one_team_{COUNT}"] = round(
        row[f"images_s_{COUNT}"] / statistics.mean(row["forward_images_s_around"]), 3)
    return row


def rss_run(work: Path, engine: str, count: int, row: dict) -> None:
    """`seglab predict` of `count` photos into a fresh folder; its peak RSS and images/s go into `row`."""
    name = f"rss-{count}"
    fresh(work, name)
    done = finish(predict_child(work, ["--input", str(photos_dir(work, count)), "--name", name, "--engine", engine,
                                       "--batch-size", str(BATCH)], work / "report.json"), work / "report.json")
    summary = summary_of(work, name)
    row[f"peak_rss_mb_{count}"] = round(done["peak_rss_mb"], 1)
    row[f"images_s_{count}"] = round(summary["predicted"] / summary["seconds"], 2)
    print(json.dumps({"count": count, **done}), flush=True)


def forward_child(work: Path, engine: str, run_args: list[str]) -> dict:
    """forward_alone's rates, measured in a fresh child process (a process's own rate varies: see forward_alone),
    once the files a predict before it wrote are on disk (their writeback would take the child's cores)."""
    os.sync()
    child = subprocess.run([sys.executable, "-m", "bench.predict_scale", "--phase", "forward", "--work", str(work),
                            "--engine", engine, *run_args], check=True, capture_output=True, text=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def forward_alone(work: Path, engine: str) -> dict:
    """The forward pass alone on the photos' preprocessed batches (decoded, resized, normalised beforehand, held in
    memory), same engine, batch and threads as predict, run two ways: one forward pass at a time on every thread,
    and as predict's model lanes run it (core/inference/model_lanes.py: on 2-4 threads one single-threaded lane a
    thread, each taking the next batch). The rate phase runs this in a fresh child each round, as it runs predict:
    the same model's rate differs by a few percent from one process to the next (31.1-33.2 images/s in four
    processes in a row here; in the slow ones glibc's moving mmap threshold left every batch's activations to fresh
    pages, 560,000-620,000 page faults against 118,000), so one process's luck must not weigh on every round."""
    import itertools

    import torch

    from core.data.images import open_rgb
    from core.data.transforms import normalize, resize_image
    from core.inference.engine_choice import load_engine
    from core.inference.model_lanes import lane_plan, run_in_lanes
    from core.runs.folders import Run
    from core.training.checkpoints import model_from_checkpoint

    run = Run(the_run(work))
    model, config, _ = model_from_checkpoint(run.checkpoint_path("best"))
    os.environ["SEGLAB_CACHE_DIR"] = str(work / "cache")
    loaded = load_engine(engine, run, "best", model, config, "auto", BATCH)
    plan = lane_plan(loaded.model, loaded.runtime.device)
    files = sorted(photos_dir(work, RATE_IMAGES).iterdir())
    batches = [normalize(torch.stack([resize_image(open_rgb(path), config.image_size) for path in files[i:i + BATCH]]))
               for i in range(0, len(files), BATCH)]

    def forward(x):
        with torch.inference_mode(), loaded.runtime.autocast():
            return loaded.model(loaded.runtime.prepare_batch(x)).float().cpu()

    def one_team() -> float:
        started = time.perf_counter()
        for x in batches:
            forward(x)
        return len(files) / (time.perf_counter() - started)

    def lanes() -> float:
        positions = itertools.count()  # next() of a count is atomic under the GIL: each batch runs once

        def lane(_number: int) -> None:
            while (position := next(positions)) < len(batches):
                forward(batches[position])

        started = time.perf_counter()
        run_in_lanes(plan, lane)
        return len(files) / (time.perf_counter() - started)

    forward(batches[0])  # warm-up, as predict's first batch is
    return {"forward_images_s": one_team(), "forward_lanes_images_s": lanes(), "threads": torch.get_num_threads(),
            "lanes": f"{plan.lanes} x {plan.threads or torch.get_num_threads()} threads", "images": len(files)}


def rate(work: Path, engine: str, repeat: int, run_args: list[str]) -> dict:
    """forward_alone in a child, then `seglab predict` of the same photos in a child, `repeat` rounds alternated
    (a burst of other work on a shared machine hits one round, not one side); medians. predict_vs_forward is
    against the faster of the two forward rates. `run_args` choose the run (--model, --image-size)."""
    rates = {"forward": [], "forward_lanes": [], "predict": []}
    for _ in range(repeat):
        alone = forward_child(work, engine, run_args)
        rates["forward"].append(alone["forward_images_s"])
        rates["forward_lanes"].append(alone["forward_lanes_images_s"])
        name = f"rate-{engine}"
        fresh(work, name)
        done = finish(predict_child(work, ["--input", str(photos_dir(work, RATE_IMAGES)), "--name", name, "--engine",
                                           engine, "--batch-size", str(BATCH)], work / "report.json"),
                      work / "report.json")
        summary = summary_of(work, name)
        rates["predict"].append(summary["predicted"] / summary["seconds"])
        print(json.dumps({f"{key}_images_s": round(values[-1], 2) for key, values in rates.items()} | done),
              flush=True)
    medians = {key: statistics.median(values) for key, values in rates.items()}
    best_forward = max(medians["forward"], medians["forward_lanes"])
    return {"engine": engine, "images": alone["images"], "threads": alone["threads"], "lanes": alone["lanes"],
            "forward_in": "a fresh child process each round", "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
            "rounds": repeat, **{f"{key}_images_s": round(value, 2) for key, value in medians.items()},
            "predict_vs_forward": round(medians["predict"] / best_forward, 3),
            "predict_vs_forward_one_team": round(medians["predict"] / medians["forward"], 3),
            "ratio_each_round": [round(p / max(f, f2), 3) for f, f2, p in
                                 zip(rates["forward"], rates["forward_lanes"], rates["predict"], strict=True)]}


def interrupt(work: Path, engine: str) -> dict:
    """SIGINT once results.csv has half the photos, then the same command again; results.csv against the
    uninterrupted run of the rss phase, byte for byte, and a sample of masks."""
    name = "interrupted"
    fresh(work, name)
    results = the_run(work) / "predictions" / name / "results.csv"
    args = ["--input", str(photos_dir(work, COUNT)), "--name", name, "--engine", engine, "--batch-size", str(BATCH)]
    process = predict_child(work, args, work / "report.json")
    while process.poll() is None and (not results.is_file() or results.read_bytes().count(b"\n") <= COUNT // 2):
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stopped = finish(process, work / "report.json")
    rows_at_stop = results.read_bytes().count(b"\n") - 1
    rerun = finish(predict_child(work, args, work / "report.json"), work / "report.json")
    whole = the_run(work) / "predictions" / f"rss-{COUNT}"
    same_csv = results.read_bytes() == (whole / "results.csv").read_bytes()
    masks = sorted(whole.glob("*_mask.png"))[::100]
    same_masks = all(mask.read_bytes() == (results.parent / mask.name).read_bytes() for mask in masks)
    print(json.dumps({"stopped": stopped, "rerun": rerun}), flush=True)
    return {"engine": engine, "exit_code_at_sigint": stopped["code"], "rows_at_sigint": rows_at_stop,
            "rerun_exit_code": rerun["code"], "rerun_resumed": summary_of(work, name)["resumed"],
            "results_csv_identical": same_csv, "masks_compared": len(masks), "masks_identical": same_masks}


def engine(work: Path) -> dict:
    """--engine auto with an empty cache (it measures), then again (from the cache); and predict with each engine
    on the 500 photos."""
    cache = work / f"cache-auto-{int(time.time())}"
    row: dict = {}
    for attempt in ("measured", "cached"):
        name = f"auto-{attempt}"
        fresh(work, name)
        started = time.perf_counter()
        done = finish(predict_child(work, ["--input", str(photos_dir(work, SMALL)), "--name", name, "--batch-size",
                                           str(BATCH)], work / "report.json", cache=cache), work / "report.json")
        choice = summary_of(work, name)["engine_choice"]
        row[f"auto_{attempt}"] = {"engine": choice["engine"], "reason": choice["reason"],
                                  "rates": choice["images_per_second"],
                                  "wall_s": round(time.perf_counter() - started, 1)}
        print(json.dumps(done), flush=True)
    for name in ("torch", "onnx"):
        fresh(work, f"engine-{name}")
        finish(predict_child(work, ["--input", str(photos_dir(work, SMALL)), "--name", f"engine-{name}", "--engine",
                                    name, "--batch-size", str(BATCH)], work / "report.json"), work / "report.json")
        summary = summary_of(work, f"engine-{name}")
        row[f"predict_{name}_images_s"] = round(summary["predicted"] / summary["seconds"], 2)
    return row


def machine() -> dict:
    import torch

    from core.device import cpu_has_fast_bf16, cpu_model

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "fast_bf16": cpu_has_fast_bf16(), "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}


def table() -> None:
    """The newest row of each phase (rate: of each model) as one table."""
    newest = {}
    for line in RESULTS.read_text().splitlines():
        row = json.loads(line)
        model = row.get("model", "resnet34_unet") if row["phase"] == "rate" else ""  # rows before --model: r34
        if model in ("resnet34_unet", "") and row["phase"] in ("rate", "rss") and row.get("image_size", 224) != 224:
            model = f"resnet34_unet_{row['image_size']}"  # a ResNet34-UNet's own run at another size
        newest[(row["phase"], model)] = row
    lines = []
    if made := newest.get(("make", "")):
        lines.append(("photos", f"{made['photos']:,}, {made['distinct_sizes']:,} distinct sizes, mean "
                                f"{made['mean_megapixels']} MP"))
    for size, model in ((224, ""), (256, "resnet34_unet_256")):
        if rss_row := newest.get(("rss", model)):
            lines += [(f"{size} px: peak RSS, 500 / 10,000 photos", f"{rss_row[f'peak_rss_mb_{SMALL}']:,.0f} MB / "
                                                                   f"{rss_row[f'peak_rss_mb_{COUNT}']:,.0f} MB = "
                                                                   f"{rss_row['rss_ratio']:.3f}x"),
                      (f"{size} px: predict images/s, 500 / 10,000 photos",
                       f"{rss_row[f'images_s_{SMALL}']} / {rss_row[f'images_s_{COUNT}']}")]
            if f"predict_vs_forward_{COUNT}" in rss_row:  # the forward pass alone measured just before and after
                lines.append((f"{size} px: 10,000 photos' predict / forward alone around it, lanes (one pass)",
                              f"{rss_row[f'predict_vs_forward_{COUNT}']:.3f}x "
                              f"({rss_row[f'predict_vs_forward_one_team_{COUNT}']:.3f}x)"))
            elif rate_row := newest.get(("rate", model or "resnet34_unet")):  # rows before: the newest rate row's
                lines.append((f"{size} px: 10,000 photos' predict / forward alone (newest rate row)",
                              f"{rss_row[f'images_s_{COUNT}'] / fastest_forward(rate_row):.3f}x"))
    for model in ("resnet34_unet", "resnet34_unet_256", "unet"):
        if rate_row := newest.get(("rate", model)):
            lanes = (f" (as predict's lanes run it: {rate_row['forward_lanes_images_s']}, {rate_row['lanes']})"
                     if "lanes" in rate_row else "")
            lines.append((f"{model}: forward alone / predict, images/s",
                          f"{rate_row['forward_images_s']}{lanes} / {rate_row['predict_images_s']} = "
                          f"{rate_row['predict_vs_forward']:.3f}x ({rate_row['images']} photos, batch {BATCH}, "
                          f"{rate_row['threads']} threads, {rate_row['engine']})"))
    if cut := newest.get(("interrupt", "")):
        lines += [("SIGINT at half", f"exit {cut['exit_code_at_sigint']}, {cut['rows_at_sigint']:,} rows; rerun exit "
                                     f"{cut['rerun_exit_code']}, resumed {cut['rerun_resumed']:,}"),
                  ("results.csv = uninterrupted", str(cut["results_csv_identical"])),
                  (f"{cut['masks_compared']} masks = uninterrupted", str(cut["masks_identical"]))]
    if chosen := newest.get(("engine", "")):
        auto = chosen["auto_measured"]
        lines += [("auto measured torch / onnx, images/s", f"{auto['rates']['torch']} / {auto['rates']['onnx']} -> "
                                                           f"{auto['engine']}"),
                  ("predict --engine torch / onnx, images/s",
                   f"{chosen['predict_torch_images_s']} / {chosen['predict_onnx_images_s']}"),
                  ("auto: wall s, measuring / cached (500 photos)",
                   f"{auto['wall_s']} / {chosen['auto_cached']['wall_s']}")]
    print("| measure | value |\n|---|---|")
    for name, value in lines:
        print(f"| {name} | {value} |")


def fastest_forward(rate_row: dict) -> float:
    """The faster of a rate row's two forward rates (rows before model lanes have one)."""
    return max(rate_row["forward_images_s"], rate_row.get("forward_lanes_images_s", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", required=True,
                        choices=["make", "rss", "rate", "interrupt", "engine", "table", "forward"],
                        help="forward: the rate phase's child (prints the forward rates, appends no row)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/seglab-predict-scale"),
                        help="Folder for the photos, the run and its predictions (about 4 GB)")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--engine", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--model", default="resnet34_unet", choices=["resnet34_unet", "unet"],
                        help="unet: the rate phase on an untrained width-64 UNet at 256 px instead")
    parser.add_argument("--image-size", type=int, default=224,
                        help="rate and rss, resnet34_unet: another size than the other phases' 224 (its own run)")
    parser.add_argument("--repeat", type=int, default=3, help="rate: rounds of forward alone then predict (medians)")
    args = parser.parse_args()
    from core.omp_spin import spin_briefly

    # Before anything loads torch (the UNet's weights are made here): the forward pass alone runs under the
    # setting `seglab predict` gives its children, so the two are compared like for like.
    spin_briefly()
    if args.phase == "table":
        table()
        return
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.phase == "make":
        row = make(args.work, args.source)
    elif args.phase == "rss":
        use_run_of_size(args)
        run_args = ["--model", args.model, "--image-size", str(args.image_size)]
        row = {"image_size": args.image_size, **rss(args.work, args.engine, run_args)}
    elif args.phase in ("rate", "forward"):
        if args.model == "unet":
            RUNS[0] = "runs-unet"
            untrained_unet(args.work)
        else:
            use_run_of_size(args)
        if args.phase == "forward":
            print(json.dumps(forward_alone(args.work, args.engine)), flush=True)
            return
        size = 256 if args.model == "unet" else args.image_size
        run_args = ["--model", args.model, "--image-size", str(args.image_size)]
        row = {"model": args.model, "image_size": size, **rate(args.work, args.engine, args.repeat, run_args)}
    elif args.phase == "interrupt":
        row = interrupt(args.work, args.engine)
    else:
        row = engine(args.work)
    row = {"phase": args.phase, **row, "phase_s": round(time.perf_counter() - started, 1), **machine()}
    print(json.dumps(row), flush=True)
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
