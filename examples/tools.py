"""A multi-tool conversation: the model calls tools, llmsync runs them on threads.

    python examples/tools.py

With ``OPENAI_API_KEY`` set it talks to OpenAI. Without it, it starts llmsync's
FakeServer on 127.0.0.1 with a scripted conversation, so it runs offline as it is.
"""
import dataclasses
import enum
import os
from contextlib import ExitStack
from typing import List

import llmsync
from llmsync import Message, tool
from llmsync.testing import FakeServer, Reply

MODEL = "openai/gpt-4o-mini"


class Unit(enum.Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


@dataclasses.dataclass
class Forecast:
    city: str
    temperature: float
    unit: str
    sky: str


_WEATHER = {"paris": (21.0, "sunny"), "rome": (27.0, "clear"), "oslo": (9.0, "rain")}


@tool
def get_weather(city: str, unit: Unit = Unit.CELSIUS) -> Forecast:
    """Current weather for a city.

    Args:
        city: The city, in English.
        unit: Temperature unit.
    """
    celsius, sky = _WEATHER.get(city.lower(), (15.0, "cloudy"))
    temperature = celsius if unit is Unit.CELSIUS else celsius * 9 / 5 + 32
    return Forecast(city, round(temperature, 1), unit.value, sky)


@tool
def packing_list(temperatures: List[float], rain: bool = False) -> List[str]:
    """What to pack for a trip.

    Args:
        temperatures: The expected temperatures in Celsius.
        rain: Whether rain is expected anywhere.
    """
    items = ["passport", "charger"]
    items.append("jacket" if min(temperatures) < 18 else "sunglasses")
    if rain:
        items.append("umbrella")
    return items


def scripted_conversation() -> List[Reply]:
    """What the fake model says: two weather calls at once, a packing list, an answer."""
    return [
        Reply.tools(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})),
        Reply.tools(("packing_list", {"temperatures": [21.0, 9.0], "rain": True})),
        Reply(text="Paris is sunny at 21C and Oslo rainy at 9C: pack a jacket and an umbrella."),
    ]


def main() -> llmsync.RunResult:
    with ExitStack() as stack:
        if os.environ.get("OPENAI_API_KEY"):
            client = stack.enter_context(llmsync.Client())
        else:
            print("OPENAI_API_KEY is not set: using the offline FakeServer.\n")
            server = stack.enter_context(FakeServer(scripted_conversation()))
            client = stack.enter_context(server.client())
        result = client.run(
            MODEL,
            [Message.user("I'm visiting Paris and Oslo this week. Weather, and what should I pack?")],
            tools=[get_weather, packing_list],
            system_prompt="Use the tools; answer in one sentence.",
            max_turns=5,
        )
    for message in result.messages:
        if message.tool_calls:
            for call in message.tool_calls:
                print(f"-> {call.name}({call.arguments})")
        elif message.role == llmsync.Role.TOOL:
            print(f"<- {message.name}: {message.content}")
    print(f"\n{result.response.content}")
    print(f"\n{result.turns} turns, {result.usage.total_tokens} tokens")
    return result


if __name__ == "__main__":
    main()
