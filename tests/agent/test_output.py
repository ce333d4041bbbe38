"""What the agent prints for the lunch line's answers."""

from terminals.agent.output import serve_line


def test_a_served_meal_names_the_option_and_its_menu_for_the_kitchen() -> None:
    accepted, text = serve_line(
        "04A1B2C3D4E5F6", {"option": 2, "meal": {"description": "Pasta"}, "charged": "0.00", "currency": "DKK"}
    )

    assert accepted and text == "✔ SERVE option 2 (Pasta)  card 04A1B2C3D4E5F6"
