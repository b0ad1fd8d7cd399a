#!/usr/bin/env python3
"""Checks the direction of the dependencies between our libraries and services.

The build already refuses an include of a library that a target does not link; this check says
which links are allowed at all, so that nobody can make a layer violation build by adding a link:

  - lib/strategy, the pure decision logic, includes nothing of ours outside lib/strategy;
  - no file under lib/ includes anything of services/;
  - no service (services/<x>/) includes another service (services/<y>/);
  - lib/client, what an app links, includes nothing of lib/store, lib/config or services/;
  - nothing under lib/ or services/ includes anything of tests/.

"Ours" is a quoted include of lib/, services/, tests/ or of the code generated from proto/.
It reads only #include lines, so it needs no build. Usage: check_layering.py [source root]
(default: the root this file is in). Prints file:line: rule for every violation; exit status 1 if
there is any.
"""

import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = ('.h', '.cc')


def generated_headers(root):
    """The headers protoc makes from proto/, as they are included."""
    headers = set()
    for proto in (root / 'proto').rglob('*.proto'):
        stem = proto.relative_to(root / 'proto').with_suffix('')
        headers.add(f'{stem.as_posix()}.pb.h')
        headers.add(f'{stem.as_posix()}.grpc.pb.h')
    return headers


def ours(header, generated):
    return header.split('/', 1)[0] in ('lib', 'services', 'tests') or header in generated


def violation(source, header, generated):
    """The rule that `source` (a path relative to the root) breaks by including `header`."""
    if not ours(header, generated):
        return None
    src = source.split('/')
    inc = header.split('/')
    if src[0] in ('lib', 'services') and inc[0] == 'tests':
        return f'{src[0]}/ includes nothing of tests/'
    if src[:2] == ['lib', 'strategy'] and inc[:2] != ['lib', 'strategy']:
        return 'lib/strategy includes nothing of ours outside lib/strategy'
    if src[0] == 'lib' and inc[0] == 'services':
        return 'lib/ includes nothing of services/'
    if src[:2] == ['lib', 'client'] and (inc[:2] in (['lib', 'store'], ['lib', 'config'])):
        return 'lib/client includes nothing of lib/store or lib/config'
    if src[0] == 'services' and inc[0] == 'services' and src[1] != inc[1]:
        return f'services/{src[1]} includes no other service (services/{inc[1]})'
    return None


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).parents[2]).resolve()
    generated = generated_headers(root)
    problems = []
    for top in ('lib', 'services'):
        for path in sorted((root / top).rglob('*')):
            if path.suffix not in SOURCES or not path.is_file():
                continue
            source = path.relative_to(root).as_posix()
            with open(path, encoding='utf-8') as f:
                for number, line in enumerate(f, 1):
                    match = INCLUDE.match(line)
                    if match is None:
                        continue
                    rule = violation(source, match.group(1), generated)
                    if rule is not None:
                        problems.append(f'{source}:{number}: includes "{match.group(1)}": {rule}')
    for problem in problems:
        print(problem)
    if problems:
        print(f'{len(problems)} layering violation(s)', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
