"""The simulated Captain's text: the vocabulary its synthetic files are written in, a stored file (SimFile) and
the words it is indexed by, the bucket listings, and how a query is scored against the indexed files and answered.
Pure functions of their arguments (the random source is passed in), so a `--seed` run writes the same files."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

MAX_RELEVANT_FILES = 5

WORD = re.compile(r"[^\W_]+")  # letters and digits in any script; `_` splits file names into words
STOPWORDS = frozenset(
    "a an and any are as at be by do does for from has have how i in is it me of on or show that the this "
    "to was what when where which who with find list all about mention mentions mentioning tell".split()
)

# --------------------------------------------------------------------------------------------- vocabulary

COMPANIES = [
    "Acme_Corp", "Beta_Industries", "Northwind_Traders", "Globex", "Initech", "Umbrella_Logistics",
    "Stark_Manufacturing", "Wayne_Shipping", "Hooli", "Vandelay_Imports", "Soylent_Foods", "Tyrell_Systems",
]
MONTHS = ["July", "August", "September", "October", "November", "December"]
POLICY_TOPICS = [
    "Remote_Work", "Travel_Expense", "Data_Retention", "Information_Security", "Procurement",
    "Parental_Leave", "Incident_Response", "Acceptable_Use",
]
STATES = ["Delaware", "New York", "California", "Texas", "Washington", "Illinois"]
SERVICES = [
    "cloud hosting", "payroll processing", "freight logistics", "legal review", "facilities maintenance",
    "data analytics", "security monitoring", "warehouse staffing",
]
ROLES = ["chief financial officer", "head of people", "security team", "legal department", "compliance officer"]

THEMES: dict[str, dict[str, Any]] = {
    "contracts": {
        "code": "CN",
        "names": [
            "{company}_Master_Services_Agreement.pdf", "{company}_Contract.pdf", "{company}_NDA.docx",
            "{company}_Q3_2024.pdf", "{company}_Statement_of_Work.docx", "{company}_Amendment_2.pdf",
        ],
        "sentences": [
            "{party} may terminate this agreement for convenience with {days} days notice.",
            "Section {section} caps liability at the fees paid in the prior {months} months.",
            "Invoices from {party} are payable within {days} days of receipt.",
            "The term renews automatically for {months} months unless either party objects in writing.",
            "This agreement is governed by the laws of {state}.",
            "Confidential information must be protected for {years} years after termination.",
            "{party} provides {service} under contract {code}.",
            "Either party may assign the agreement only with written consent.",
        ],
    },
    "invoices": {
        "code": "INV",
        "names": [
            "Invoice_{company}_{month}.pdf", "{company}_Payment_Schedule.xlsx", "Vendor_Payments_{month}.csv",
            "{company}_Credit_Note.pdf", "Q3_Ledger_{month}.xlsx",
        ],
        "sentences": [
            "Invoice {code} from {party} totals ${amount} for {service}.",
            "Payment terms are net {days} days from the invoice date.",
            "A late fee of {percent} percent applies to balances overdue by {days} days.",
            "{party} issued a credit of ${amount} against purchase order {code}.",
            "The {month} balance with {party} is ${amount}.",
            "Sales tax was charged at {percent} percent in {state}.",
        ],
    },
    "policies": {
        "code": "CASE",
        "names": ["{topic}_Policy.pdf", "{topic}_Policy.md", "{topic}_Guidelines.docx", "{topic}_Handbook.pdf"],
        "sentences": [
            "This policy applies to every employee and contractor.",
            "Requests under this policy must be approved by the {role} within {days} days.",
            "Records are retained for {years} years and then destroyed.",
            "Exceptions are reviewed every {months} months by the {role}.",
            "Violations are reported to the {role} and logged under case {code}.",
            "Expenses above ${amount} need a receipt and a manager's approval.",
        ],
    },
}
THEME_HINTS = {
    "contracts": ("contract", "agreement", "nda", "amendment", "statement"),
    "invoices": ("invoice", "payment", "ledger", "credit", "billing"),
    "policies": ("policy", "policies", "handbook", "guideline", "guidelines"),
}
VIDEOS = ["media/onboarding_video.mp4", "media/site_walkthrough.mov", "media/all_hands_recording.mp4"]



@dataclass
class SimFile:
    file_id: str
    file_name: str
    source_uri: str
    chunks: list[tuple[str, str]]  # (chunk_id, text)
    created_at: str
    updated_at: str
    deleted: bool = False
    terms: frozenset[str] = frozenset()
    name_terms: frozenset[str] = frozenset()

    def index_text(self) -> None:
        self.name_terms = frozenset(words(self.file_name))
        self.terms = self.name_terms | frozenset(word for _, text in self.chunks for word in words(text))

    @property
    def text(self) -> str:
        return " ".join(text for _, text in self.chunks)

    def summary(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_name": self.file_name,
            "source_uri": self.source_uri,
            "chunk_count": len(self.chunks),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "text": self.text,
        }


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def query_terms(text: str) -> list[str]:
    """The words a query is scored on: stop words dropped, unless nothing else is left."""
    every = list(dict.fromkeys(words(text)))
    meaningful = [word for word in every if word not in STOPWORDS]
    return meaningful or every


def extension_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


# --------------------------------------------------------------------------------------------- files


def fill_name(rng: random.Random, theme: str) -> str:
    template = rng.choice(THEMES[theme]["names"])
    return template.format(company=rng.choice(COMPANIES), month=rng.choice(MONTHS), topic=rng.choice(POLICY_TOPICS))


def bucket_listing(scheme: str, bucket: str) -> list[str]:
    """A bucket's objects: documents of every theme plus one video that Captain cannot index.

    The listing is a function of the bucket's name (a bucket's contents do not change between two
    indexing runs), so it draws from its own generator seeded by the name, not from the world's.
    """
    rng = random.Random(f"{scheme}://{bucket}")
    paths: list[str] = []
    size = rng.randint(5, 10)
    while len(paths) < size:
        theme = rng.choice(list(THEMES))
        path = f"{theme}/{fill_name(rng, theme)}"
        if path not in paths:
            paths.append(path)
    paths.insert(rng.randrange(len(paths) + 1), rng.choice(VIDEOS))
    return [f"{scheme}://{bucket}/{path}" for path in paths]


def compose_chunks(rng: random.Random, new_id: Callable[[str], str], path: str) -> list[tuple[str, str]]:
    """Synthetic text for a file: sentences from its theme's vocabulary, naming what the file is about."""
    name = path.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0]
    lowered = path.lower()
    theme = next(
        (t for t, hints in THEME_HINTS.items() if any(hint in lowered for hint in hints)), None
    ) or rng.choice(list(THEMES))
    vocabulary = THEMES[theme]
    party = next((c for c in COMPANIES if c.lower() in lowered), rng.choice(COMPANIES)).replace("_", " ")
    chunk_count = {"md": 2, "txt": 2, "csv": 3, "json": 2}.get(extension_of(path), 5)
    chunks = []
    for index in range(rng.randint(1, chunk_count)):
        sentences = [f"This is {stem.replace('_', ' ')}."] if index == 0 else []
        for template in rng.sample(vocabulary["sentences"], rng.randint(2, 3)):
            sentences.append(
                template.format(
                    party=party,
                    days=rng.choice([10, 15, 30, 45, 60, 90]),
                    months=rng.choice([3, 6, 12, 24, 36]),
                    years=rng.choice([2, 3, 5, 7, 10]),
                    amount=f"{rng.randint(200, 95000):,}",
                    percent=rng.choice(["1.5", "2", "5", "7.25", "8.875"]),
                    state=rng.choice(STATES),
                    service=rng.choice(SERVICES),
                    role=rng.choice(ROLES),
                    month=rng.choice(MONTHS),
                    section=f"{rng.randint(2, 18)}.{rng.randint(1, 9)}",
                    code=f"{vocabulary['code']}-{rng.randint(10000, 99999)}",
                )
            )
        chunks.append((new_id("chunk_"), " ".join(sentences)))
    return chunks


# --------------------------------------------------------------------------------------------- queries


def score(stored: SimFile, terms: list[str]) -> float:
    """Share of the query's words found in the file, words in its name counting half again."""
    if not terms:
        return 0.0
    hits = sum(1.0 + (0.5 if term in stored.name_terms else 0.0) for term in terms if term in stored.terms)
    return round(min(1.0, hits / (1.5 * len(terms))), 2) if hits else 0.0


def relevant_files(files: list[SimFile], terms: list[str]) -> list[tuple[float, SimFile]]:
    """The files that mention the query's words, best first (then by name), at most MAX_RELEVANT_FILES."""
    scored = sorted(
        ((score(f, terms), f) for f in files),
        key=lambda pair: (-pair[0], pair[1].file_name),
    )
    return [(points, f) for points, f in scored if points > 0][:MAX_RELEVANT_FILES]


def answer(database_name: str, files: list[SimFile], matches: list[tuple[float, SimFile]], terms: list[str]) -> str:
    """The reply's text: which files matter, and the sentence of the best one that says most about the query."""
    if not files:
        return f"Nothing is indexed in the database '{database_name}' yet, so there is nothing to answer from."
    if not matches:
        asked = ", ".join(f"'{t}'" for t in terms[:5]) or "that"
        return f"None of the {len(files)} indexed files in '{database_name}' mention {asked}."
    best = matches[0][1]
    sentences = re.split(r"(?<=[.!?])\s+", best.text)
    quote = max(sentences, key=lambda s: sum(1 for word in set(words(s)) if word in terms))
    names = ", ".join(f.file_name for _, f in matches[:3])
    return (
        f"Based on {len(matches)} of the {len(files)} indexed files in '{database_name}', the most relevant "
        f"{'is' if len(matches) == 1 else 'are'} {names}. {best.file_name} says: \"{quote}\""
    )
