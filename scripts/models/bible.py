"""The King James Bible text from Debian's bible-kjv package, one string per verse (no torch needed)."""
import subprocess


def load_verses() -> list:
    text = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=True).stdout
    verses = []
    for line in text.splitlines():
        parts = line.split(" ", 1)
        if len(parts) == 2 and ":" in parts[0]:
            verses.append(parts[1].strip())
        elif verses and line.strip():
            verses[-1] += " " + line.strip()
    return verses
