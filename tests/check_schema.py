#!/usr/bin/env python3
"""Validates Tandem report documents against docs/report.schema.json (JSON Schema 2020-12).

check_schema.py --schema docs/report.schema.json DOC.json [DOC.json ...]

Prints every violation with its path and exits 1 when any document fails; exits 77 (ctest's skip)
when Debian's python3-jsonschema is not installed.
"""
import argparse
import json
import sys

SKIP = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema", required=True)
    ap.add_argument("documents", nargs="+")
    args = ap.parse_args()
    try:
        import jsonschema
    except ImportError:
        print("check_schema: skipped: jsonschema not importable (Debian package python3-jsonschema)")
        return SKIP
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    bad = 0
    for path in args.documents:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print("check_schema: FAIL: %s: %s" % (path, e))
            bad += 1
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors[:30]:
            where = "/".join(str(p) for p in e.absolute_path) or "(document)"
            print("check_schema: FAIL: %s: %s: %s" % (path, where, e.message[:300]))
        bad += bool(errors)
    if bad:
        return 1
    print("check_schema: %d document(s) valid against %s" % (len(args.documents), args.schema))
    print("check_schema: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
