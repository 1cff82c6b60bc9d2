"""JSON Schema from type hints and docstrings, and argument checks against it."""
import dataclasses
import enum
import sys
from typing import (Annotated, Any, Dict, FrozenSet, List, Literal, Optional, Sequence, Set,
                    Tuple, TypedDict, Union)

import pytest

from llmsync.errors import InvalidRequestError
from llmsync.tool_schema import (convert, function_schema, parse_docstring, type_schema,
                                 validate)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Address:
    """Where someone lives.

    Attributes:
        street: Street and number.
        city: The city.
    """

    street: str
    city: str = "Paris"


@dataclasses.dataclass
class Person:
    name: str
    address: Address
    tags: List[str] = dataclasses.field(default_factory=list)


class Movie(TypedDict):
    title: str
    year: int


class Filters(TypedDict, total=False):
    genre: str
    after: int


@dataclasses.dataclass
class Node:
    value: int
    children: List["Node"]


class TestTypeSchema:
    @pytest.mark.parametrize("hint, expected", [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Any, {}),
        (type(None), {"type": "null"}),
    ])
    def test_scalars(self, hint, expected):
        assert type_schema(hint) == expected

    @pytest.mark.parametrize("hint", [list, List[int], Sequence[int]])
    def test_lists_are_arrays(self, hint):
        schema = type_schema(hint)
        assert schema["type"] == "array"
        if hint is not list:
            assert schema["items"] == {"type": "integer"}

    def test_builtin_generic_list(self):
        assert type_schema(list[str]) == {"type": "array", "items": {"type": "string"}}

    def test_sets_have_unique_items(self):
        assert type_schema(Set[str]) == {"type": "array", "items": {"type": "string"},
                                         "uniqueItems": True}
        assert type_schema(FrozenSet[int])["uniqueItems"] is True

    def test_variadic_tuple_is_an_array_of_its_item(self):
        assert type_schema(Tuple[int, ...]) == {"type": "array", "items": {"type": "integer"}}

    def test_fixed_tuple_lists_each_position(self):
        assert type_schema(Tuple[str, int]) == {
            "type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
            "minItems": 2, "maxItems": 2}

    def test_dicts_are_objects_with_typed_values(self):
        assert type_schema(dict) == {"type": "object"}
        assert type_schema(Dict[str, Any]) == {"type": "object"}
        assert type_schema(Dict[str, float]) == {"type": "object",
                                                 "additionalProperties": {"type": "number"}}

    def test_optional_allows_null(self):
        assert type_schema(Optional[int]) == {"anyOf": [{"type": "integer"}, {"type": "null"}]}

    def test_union_lists_every_member(self):
        assert type_schema(Union[int, str]) == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
        assert type_schema(Union[int, str, None])["anyOf"][-1] == {"type": "null"}

    @pytest.mark.skipif(sys.version_info < (3, 10), reason="X | Y needs Python 3.10")
    def test_pipe_union(self):
        assert type_schema(eval("int | None")) == {"anyOf": [{"type": "integer"}, {"type": "null"}]}

    def test_literal_strings_are_a_string_enum(self):
        assert type_schema(Literal["a", "b"]) == {"type": "string", "enum": ["a", "b"]}

    def test_literal_mixed_types_is_a_bare_enum(self):
        assert type_schema(Literal[1, "one"]) == {"enum": [1, "one"]}

    def test_enum_uses_member_values(self):
        assert type_schema(Color) == {"type": "string", "enum": ["red", "green"]}
        assert type_schema(Level) == {"type": "integer", "enum": [1, 2]}

    def test_dataclass_is_an_object_with_its_docstring(self):
        assert type_schema(Address) == {
            "type": "object",
            "description": "Where someone lives.",
            "properties": {
                "street": {"type": "string", "description": "Street and number."},
                "city": {"type": "string", "description": "The city."},
            },
            "required": ["street"],
        }

    def test_nested_dataclass_is_inlined(self):
        schema = type_schema(Person)
        assert schema["required"] == ["name", "address"]
        assert schema["properties"]["address"]["properties"]["street"] == {
            "type": "string", "description": "Street and number."}
        assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
        assert "description" not in schema  # the generated "Person(name: str, ...)" is not one

    def test_typed_dict_required_keys(self):
        assert type_schema(Movie) == {
            "type": "object",
            "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
            "required": ["title", "year"],
        }

    def test_typed_dict_total_false_requires_nothing(self):
        schema = type_schema(Filters)
        assert "required" not in schema
        assert set(schema["properties"]) == {"genre", "after"}

    def test_list_of_typed_dicts(self):
        assert type_schema(List[Movie])["items"]["properties"]["year"] == {"type": "integer"}

    def test_annotated_adds_a_description(self):
        assert type_schema(Annotated[int, "How many"]) == {
            "type": "integer", "description": "How many"}

    def test_recursive_type_is_refused(self):
        with pytest.raises(InvalidRequestError, match="recursive type Node"):
            type_schema(Node)

    def test_unsupported_type_names_itself(self):
        with pytest.raises(InvalidRequestError, match="has no JSON Schema form"):
            type_schema(complex)


class TestFunctionSchema:
    def test_required_defaults_and_descriptions(self):
        def search(query: str, limit: int = 10, color: Color = Color.RED):
            """Search the catalog.

            Args:
                query: What to look for.
                limit (int, optional): At most this many
                    results.
            """

        description, schema = function_schema(search)
        assert description == "Search the catalog."
        assert schema == {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for."},
                "limit": {"type": "integer", "description": "At most this many results.",
                          "default": 10},
                "color": {"type": "string", "enum": ["red", "green"], "default": "red"},
            },
            "required": ["query"],
        }

    def test_no_parameters(self):
        def now() -> str:
            """The time."""

        assert function_schema(now) == ("The time.", {"type": "object", "properties": {}})

    def test_star_args_are_left_out(self):
        def f(a: int, *args: int, **kwargs: str):
            pass

        assert list(function_schema(f)[1]["properties"]) == ["a"]

    def test_unannotated_parameter_takes_any_value(self):
        def f(a, b=1):
            pass

        assert function_schema(f)[1]["properties"] == {"a": {}, "b": {"default": 1}}

    def test_none_default_makes_it_nullable_and_optional(self):
        def f(a: Optional[str] = None):
            pass

        schema = function_schema(f)[1]
        assert "required" not in schema
        assert schema["properties"]["a"]["default"] is None
        assert validate(schema, {"a": None}) is None

    def test_none_default_without_optional_is_nullable_too(self):
        def f(a: Dict[str, int] = None):
            pass

        assert function_schema(f)[1]["properties"]["a"] == {
            "anyOf": [{"type": "object", "additionalProperties": {"type": "integer"}},
                      {"type": "null"}],
            "default": None}

    def test_unserialisable_default_is_not_written(self):
        marker = object()

        def f(a: Any = marker):
            pass

        assert function_schema(f)[1]["properties"]["a"] == {}

    def test_bad_parameter_type_names_the_parameter(self):
        def f(when: complex):
            pass

        with pytest.raises(InvalidRequestError, match="parameter 'when'"):
            function_schema(f)

    def test_unresolvable_string_annotation_is_a_clear_error(self):
        def f(a: "NoSuchType"):  # noqa: F821
            pass

        with pytest.raises(InvalidRequestError, match="cannot resolve the type hints"):
            function_schema(f)

    def test_string_annotations_resolve_through_localns(self):
        class Local(TypedDict):
            x: int

        def f(a: "Local"):
            pass

        assert function_schema(f, {"Local": Local})[1]["properties"]["a"]["required"] == ["x"]


class TestParseDocstring:
    def test_google_style(self):
        doc = parse_docstring('''Get the weather
        for a city.

        Longer explanation that is not part of the description.

        Args:
            city (str): The city name,
                in English.
            *args: Ignored.
            unit: "C" or "F".

        Returns:
            A sentence.
        ''')
        assert doc.description == "Get the weather for a city."
        assert doc.params == {"city": "The city name, in English.", "args": "Ignored.",
                              "unit": '"C" or "F".'}

    def test_numpy_style(self):
        doc = parse_docstring('''Convert a temperature.

        Parameters
        ----------
        value : float
            The temperature
            to convert.
        low, high : int
            Bounds.
        unit : {"C", "F"}, optional

        Returns
        -------
        float
            Not a parameter.
        ''')
        assert doc.description == "Convert a temperature."
        assert doc.params == {"value": "The temperature to convert.", "low": "Bounds.",
                              "high": "Bounds.", "unit": ""}

    def test_sections_end_the_description(self):
        doc = parse_docstring("""
            Args:
                a: first
            """)
        assert doc.description == ""
        assert doc.params == {"a": "first"}

    def test_other_sections_are_not_parameters(self):
        doc = parse_docstring("Do it.\n\nRaises:\n    ValueError: bad input\n")
        assert doc.params == {}

    def test_no_docstring(self):
        assert parse_docstring(None).description == ""


class TestValidate:
    @pytest.fixture
    def schema(self):
        def f(city: str, days: int = 1, color: Optional[Color] = None, tags: List[str] = ()):
            pass

        return function_schema(f)[1]

    def test_valid_arguments_pass(self, schema):
        assert validate(schema, {"city": "Paris", "days": 3, "color": "red", "tags": ["a"]}) is None

    def test_missing_required(self, schema):
        assert validate(schema, {"days": 3}) == "missing required argument 'city'"

    @pytest.mark.parametrize("arguments, message", [
        ({"city": 3}, "city must be string, got integer 3"),
        ({"city": "P", "days": "3"}, 'days must be integer, got string "3"'),
        ({"city": "P", "days": True}, "days must be integer, got boolean true"),
        ({"city": "P", "color": "blue"}, "color matches none of the allowed forms"),
        ({"city": "P", "tags": ["a", 1]}, "tags[1] must be string, got integer 1"),
    ])
    def test_wrong_types_are_named(self, schema, arguments, message):
        assert message in validate(schema, arguments)

    def test_integral_float_counts_as_integer(self, schema):
        assert validate(schema, {"city": "P", "days": 2.0}) is None

    def test_nested_object_properties(self):
        schema = type_schema(Person)
        assert validate(schema, {"name": "A", "address": {}}, "p") == \
            "p.address is missing required property 'street'"

    def test_additional_properties_false_rejects_extras(self):
        schema = {"type": "object", "properties": {}, "additionalProperties": False}
        assert validate(schema, {"x": 1}) == "unexpected argument 'x'"


class TestConvert:
    def test_enum_from_value(self):
        assert convert(Color, "green") is Color.GREEN

    def test_nested_dataclass(self):
        person = convert(Person, {"name": "A", "address": {"street": "1 Rue"}})
        assert person == Person("A", Address("1 Rue"))

    def test_optional_and_list_members(self):
        assert convert(Optional[List[Color]], ["red"]) == [Color.RED]
        assert convert(Optional[Color], None) is None

    def test_union_picks_the_member_the_value_fits(self):
        assert convert(Union[int, Address], {"street": "x"}) == Address("x")
        assert convert(Union[Address, int], 3) == 3

    def test_tuples_sets_and_numbers(self):
        assert convert(Tuple[int, str], [1, "a"]) == (1, "a")
        assert convert(Set[str], ["a", "a"]) == {"a"}
        assert convert(int, 2.0) == 2 and isinstance(convert(int, 2.0), int)
        assert isinstance(convert(float, 2), float)

    def test_dict_values(self):
        assert convert(Dict[str, Color], {"x": "red"}) == {"x": Color.RED}

    def test_plain_values_pass_through(self):
        assert convert(Movie, {"title": "T", "year": 1}) == {"title": "T", "year": 1}
        assert convert(Any, [1]) == [1]
