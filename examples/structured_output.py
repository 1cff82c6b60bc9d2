"""Structured output: pull a list of dataclasses out of free text.

    python examples/structured_output.py

``response_format=List[Contact]`` sends the schema of ``Contact`` in the provider's strict
form, and ``response.parsed`` is a list of ``Contact`` instances (nested types, enums and
dates built for you). A reply that does not fit is asked for again (``output_retries``).

With OPENAI_API_KEY set this talks to OpenAI. Without it, it runs offline against
llmsync's FakeServer, which answers with the JSON a strict model would send.
"""
import datetime
import enum
from dataclasses import dataclass
from typing import ContextManager, List, Optional

import llmsync
from llmsync.testing import Reply, client_or_fake

MODEL = "openai/gpt-4o-mini"

TEXT = """Met Ada Lovelace (ada@analytical.org) at the conference on 10 March 2025; she
leads research. Charles Babbage, an engineer, joined us for lunch on 11 March."""


class Role(enum.Enum):
    RESEARCH = "research"
    ENGINEERING = "engineering"
    OTHER = "other"


@dataclass
class Contact:
    """A person mentioned in the notes.

    Args:
        name: the person's full name
        email: their email address, if the notes give one
        met_on: the day we met them
    """

    name: str
    role: Role
    met_on: datetime.date
    email: Optional[str] = None


OFFLINE_CONTACTS = [
    Contact("Ada Lovelace", Role.RESEARCH, datetime.date(2025, 3, 10), "ada@analytical.org"),
    Contact("Charles Babbage", Role.ENGINEERING, datetime.date(2025, 3, 11)),
]


def open_client() -> ContextManager[llmsync.Client]:
    """A real client when OPENAI_API_KEY is set, else one aimed at a local FakeServer."""
    return client_or_fake([Reply.structured(OFFLINE_CONTACTS)])


def main() -> List[Contact]:
    with open_client() as client:
        response = client.generate(MODEL, f"Extract every contact from these notes:\n\n{TEXT}",
                                   response_format=List[Contact], output_retries=1)
    if response.refusal:
        print("The model refused:", response.refusal)
        return []
    contacts: List[Contact] = response.parsed
    for contact in contacts:
        email = f" <{contact.email}>" if contact.email else ""
        print(f"{contact.name}{email}: {contact.role.value}, met {contact.met_on:%d %B %Y}")
    return contacts


if __name__ == "__main__":
    main()
