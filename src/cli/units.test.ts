import { test } from "node:test";
import assert from "node:assert/strict";
import { bytesSize, ellipsis, formatG, humanDuration, humanSize, humanSizeWithPrecision, tabwrite, TABLE_LAYOUT, truncateId } from "./units.js";

test("sizes print as go-units HumanSizeWithPrecision(size, 3) in decimal units", () => {
  const cases: [number, string][] = [
    [0, "0B"],
    [736, "736B"],
    [999, "999B"],
    [1000, "1kB"],
    [5600, "5.6kB"],
    [1_240_000, "1.24MB"],
    [4_261_550, "4.26MB"],
    [170_000_000, "170MB"],
    [1_200_000_000, "1.2GB"],
    [3_500_000_000_000, "3.5TB"],
  ];
  for (const [n, want] of cases) assert.equal(humanSizeWithPrecision(n, 3), want, `size ${n}`);
});

test("sizes round half to even on the exact value and switch to Go's exponent form as %g does", () => {
  assert.equal(humanSizeWithPrecision(1125, 3), "1.12kB");
  assert.equal(humanSizeWithPrecision(1135, 3), "1.14kB");
  assert.equal(humanSizeWithPrecision(999_700, 3), "1e+03kB");
  assert.equal(formatG(0.00001234, 3), "1.23e-05");
  assert.equal(formatG(123456, 4), "1.235e+05");
});

test("HumanSize keeps four digits and BytesSize uses binary units", () => {
  assert.equal(humanSize(1_234_567), "1.235MB");
  assert.equal(humanSize(174_262_286), "174.3MB");
  assert.equal(humanSize(0), "0B");
  assert.equal(bytesSize(8_000_000_000), "7.451GiB");
  assert.equal(bytesSize(1024), "1KiB");
});

test("durations print as go-units HumanDuration", () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const cases: [number, string][] = [
    [0, "Less than a second"],
    [999, "Less than a second"],
    [1 * s, "1 second"],
    [47 * s, "47 seconds"],
    [1 * m, "About a minute"],
    [119 * s, "About a minute"],
    [2 * m, "2 minutes"],
    [59 * m, "59 minutes"],
    [60 * m, "About an hour"],
    [89 * m, "About an hour"],
    [90 * m, "2 hours"],
    [47 * h, "47 hours"],
    [48 * h, "2 days"],
    [13 * d, "13 days"],
    [14 * d, "2 weeks"],
    [21 * d, "3 weeks"],
    [60 * d, "2 months"],
    [700 * d, "23 months"], [729 * d, "24 months"],
    [730 * d, "2 years"],
    [3 * 365 * d, "3 years"],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
});

test("ids lose their algorithm and keep 12 hex digits", () => {
  assert.equal(truncateId(`sha256:${"a".repeat(64)}`), "a".repeat(12));
  assert.equal(truncateId("<missing>"), "<missing>");
  assert.equal(truncateId("abc"), "abc");
});

test("ellipsis cuts to a display width with … as the last cell", () => {
  assert.equal(ellipsis("short", 45), "short");
  assert.equal(ellipsis("abcdefghij", 5), "abcd…");
  assert.equal(ellipsis("日本語テキスト", 5), "日本…");
  assert.equal(ellipsis("abc", 1), "a");
  assert.equal(ellipsis("abc", 0), "");
});

test("tables align like tabwriter(10, 1, 3, ' ') and leave the last cell unpadded", () => {
  const text = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nbusybox\tlatest\tabcdef123456\t2 weeks ago\t4.26MB\n";
  assert.equal(
    tabwrite(text, TABLE_LAYOUT),
    "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n" + "busybox      latest    abcdef123456   2 weeks ago   4.26MB\n",
  );
});

test("a line without tabs ends the column blocks above it, as tabwriter flushes there", () => {
  const text = "Client:\n Version:\t1\n API version:\t1.41\n\nServer:\n Engine:\n  Version:\t0.1.0\n";
  assert.equal(tabwrite(text, { minWidth: 20, padding: 1 }), "Client:\n Version:           1\n API version:       1.41\n\nServer:\n Engine:\n  Version:          0.1.0\n");
});

test("a column is as wide as its block of consecutive lines that have it", () => {
  const text = "a\tb\tc\nlonger-cell\tb\n\tx\n";
  assert.equal(tabwrite(text, { minWidth: 0, padding: 1 }), "a           b c\nlonger-cell b\n            x\n");
});
