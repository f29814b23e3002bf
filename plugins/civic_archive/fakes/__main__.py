"""Serve the demo city's fake platforms until interrupted:  python -m civic_archive.fakes [--port N] [--config F]

Prints the env lines (tokens) and writes the city config as YAML/JSON if --config is given.
"""

import argparse
import json
import time

from . import FakePlatforms, World


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--archive", default="file://./archive")
    ap.add_argument("--config", help="write the city config here (.json, or .yaml if PyYAML is installed)")
    args = ap.parse_args()
    world = World.demo()
    with FakePlatforms(world, port=args.port) as fakes:
        config, env = fakes.city_config(archive=args.archive)
        if args.config:
            with open(args.config, "w", encoding="utf-8") as fh:
                if args.config.endswith((".yaml", ".yml")):
                    import yaml  # noqa: PLC0415

                    yaml.safe_dump(config, fh, sort_keys=False, allow_unicode=True)
                else:
                    json.dump(config, fh, indent=2)
        for k, v in env.items():
            print(f"export {k}={v}")
        for p in ("facebook", "instagram", "x", "youtube"):
            print(f"# {p}: {fakes.base_url(p)}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
