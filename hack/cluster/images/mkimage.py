#!/usr/bin/env python3
"""mkimage.py ROOTFS_DIR OUT.tar --tag REF [--tag REF...] [--entrypoint ARG...] [--cmd ARG...]

Writes a single-layer docker-archive (`docker save` format) that
`ctr -n k8s.io images import OUT.tar` accepts. No registry, no daemon.
Every --tag becomes a RepoTag (ctr imports nothing from an archive without RepoTags).
The contents of /dev, /proc, /sys are left out (the runtime mounts them).
Reproducible: fixed mtimes and owners from the rootfs, sorted entries.
"""

import argparse
import hashlib
import io
import json
import os
import tarfile
import tempfile

SKIP_CONTENTS = {"dev", "proc", "sys"}
EPOCH = 0


def add_tree(t: tarfile.TarFile, root: str) -> None:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = os.path.relpath(dirpath, root)
        dirnames.sort()
        if rel == ".":
            # keep /dev, /proc, /sys as empty dirs
            for name in sorted(set(dirnames) & SKIP_CONTENTS):
                ti = t.gettarinfo(os.path.join(dirpath, name), arcname=name)
                ti.mtime = EPOCH
                t.addfile(ti)
            dirnames[:] = [d for d in dirnames if d not in SKIP_CONTENTS]
        else:
            ti = t.gettarinfo(dirpath, arcname=rel)
            ti.mtime = EPOCH
            t.addfile(ti)
        # symlinks to dirs show up in dirnames but os.walk doesn't follow them
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = [d for d in dirnames if d not in links]
        for name in sorted(filenames + links):
            full = os.path.join(dirpath, name)
            arc = name if rel == "." else os.path.join(rel, name)
            ti = t.gettarinfo(full, arcname=arc)
            ti.mtime = EPOCH
            if ti.isreg():
                with open(full, "rb") as f:
                    t.addfile(ti, f)
            elif ti.issym() or ti.islnk():
                t.addfile(ti)
            # sockets, fifos, device nodes: skipped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rootfs")
    ap.add_argument("out")
    ap.add_argument("--tag", action="append", required=True)
    ap.add_argument("--entrypoint", nargs="+")
    ap.add_argument("--cmd", nargs="+")
    ap.add_argument("--env", action="append", default=[])
    a = ap.parse_args()

    out_dir = os.path.dirname(os.path.abspath(a.out))
    with tempfile.TemporaryFile(dir=out_dir) as layer:
        with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
            add_tree(t, a.rootfs)
        size = layer.tell()
        layer.seek(0)
        h = hashlib.sha256()
        for chunk in iter(lambda: layer.read(1 << 20), b""):
            h.update(chunk)
        env = ["PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin", *a.env]
        cfg = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": env},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h.hexdigest()]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hack/cluster/images/mkimage.py"}],
        }
        if a.entrypoint:
            cfg["config"]["Entrypoint"] = a.entrypoint
        if a.cmd:
            cfg["config"]["Cmd"] = a.cmd
        cfgb = json.dumps(cfg, sort_keys=True).encode()
        cfgname = hashlib.sha256(cfgb).hexdigest() + ".json"
        man = json.dumps([{"Config": cfgname, "RepoTags": a.tag, "Layers": ["layer.tar"]}]).encode()
        tmp_out = f"{a.out}.tmp.{os.getpid()}"
        with tarfile.open(tmp_out, "w") as t:
            ti = tarfile.TarInfo("layer.tar")
            ti.size = size
            ti.mode = 0o644
            layer.seek(0)
            t.addfile(ti, layer)
            for name, data in ((cfgname, cfgb), ("manifest.json", man)):
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mode = 0o644
                t.addfile(ti, io.BytesIO(data))
        os.replace(tmp_out, a.out)


if __name__ == "__main__":
    main()
