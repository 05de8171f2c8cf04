#!/usr/bin/env python3
"""Lint of the SQL the extension runs itself (through SPI): every operator, function and
type it names must be schema-qualified (`OPERATOR(pg_catalog.=)`, `pg_catalog.now()`,
`::pg_catalog.text`), so that no operator, function or type a session creates in its own
schemas can stand in for the system catalog's, whatever search_path is in force.

Scans the ordinary string literals of extension/src/**/*.rs that hold a statement
(SELECT, INSERT, UPDATE, DELETE, WITH); raw strings (r#"..."#) are the extension's
install script, run by CREATE EXTENSION with its own search_path, and test modules are
skipped. Prints each finding and exits 1 if there is any.

usage: lint_internal_sql.py [ROOT]
"""
import pathlib
import re
import sys

# SQL syntax that looks like a function call but is not looked up on search_path
SYNTAX = {
    "IN", "VALUES", "EXISTS", "COALESCE", "NULLIF", "CAST", "ANY", "ALL", "ARRAY", "ROW",
    "GREATEST", "LEAST", "FILTER", "OVER", "AND", "OR", "NOT", "ON", "USING", "AS", "FROM",
    "WHERE", "SELECT", "INTO", "RETURNING", "JOIN", "LATERAL", "OPERATOR", "WHEN", "THEN",
    "ELSE", "CASE", "BY", "GROUP", "ORDER", "PARTITION", "LIMIT", "WITH", "UPDATE", "SET",
    "INSERT", "DELETE", "DO", "CONFLICT", "NOTHING", "TABLE", "UNNEST_NOT", "IS", "NULL",
}
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.I)
OPERATOR = re.compile(r"(<>|<=|>=|!=|\|\||!~~|~~|[=<>+\-~])")


def string_literals(source):
    """(line number, text) of each ordinary (non-raw) string literal, with `\\` line
    continuations joined."""
    i, line, n = 0, 1, len(source)
    while i < n:
        c = source[i]
        if c == "\n":
            line += 1
        if source.startswith("//", i):
            j = source.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "r" and re.match(r'r#*"', source[i:]) and not source[i - 1].isalnum():
            hashes = re.match(r"r(#*)\"", source[i:]).group(1)
            end = source.find('"' + hashes, i + 2 + len(hashes))
            line += source.count("\n", i, end)
            i = end + 1 + len(hashes)
            continue
        if c == "'" and re.match(r"'(\\.|[^\\'])'", source[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", source[i:]).group(0))
            continue
        if c == '"':
            start_line, j, text = line, i + 1, []
            while j < n and source[j] != '"':
                if source[j] == "\\" and source[j + 1] == "\n":
                    j += 2
                    line += 1
                    while source[j] in " \t":
                        j += 1
                    continue
                if source[j] == "\\":
                    text.append(source[j : j + 2])
                    j += 2
                    continue
                if source[j] == "\n":
                    line += 1
                text.append(source[j])
                j += 1
            yield start_line, "".join(text).replace('\\"', '"')
            i = j + 1
            continue
        i += 1


def findings(sql):
    """What in `sql` is not schema-qualified."""
    # literals and quoted identifiers cannot hold an operator or a call
    bare = re.sub(r"'([^']|'')*'", "''", sql)
    bare = re.sub(r'"([^"]|"")*"', '""', bare)
    bare = re.sub(r"OPERATOR\(pg_catalog\.[^)]+\)", " ", bare)
    bare = re.sub(r"\$\d+", " $ ", bare)
    # an UPDATE's assignments (SET a = x, b = y) are not comparisons
    if re.match(r"\s*UPDATE\b", bare, re.I):
        head, _, tail = bare.partition(" WHERE ")
        head = re.sub(r"(\bSET\b|,)\s*\w+\s*=", r"\1", head, flags=re.I)
        bare = head + " WHERE " + tail
    out = []
    for m in OPERATOR.finditer(bare):
        out.append(f"operator {m.group(1)}")
    for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", bare):
        if m.group(1).upper() not in SYNTAX:
            out.append(f"function {m.group(1)}()")
    for m in re.finditer(r"::\s*([A-Za-z_]\w*)\b(?!\s*\.)", bare):
        out.append(f"type ::{m.group(1)}")
    return out


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "extension" / "src"
    problems = 0
    for path in sorted(root.rglob("*.rs")):
        source = path.read_text()
        cut = re.search(r"#\[cfg\(any\(test, feature = \"pg_test\"\)\)\]", source)
        if cut:
            source = source[: cut.start()]
        for line, text in string_literals(source):
            if not STATEMENT.match(text):
                continue
            for what in findings(text):
                print(f"{path}:{line}: unqualified {what} in internal SQL: {text[:80]}")
                problems += 1
    if problems:
        print(f"{problems} unqualified names in the extension's internal SQL")
        return 1
    print("internal SQL: every operator, function and type is schema-qualified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
