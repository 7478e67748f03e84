"""Labels of the mask competition data (context.md): mask × gender × age band, 18 classes.

class = mask·6 + gender·3 + age, with mask wear 0 / incorrect 1 / not worn 2, gender male 0 /
female 1, age band <30: 0, 30…cut−1: 1, ≥cut: 2 (the cut is a setting, 60 by default).
"""

from __future__ import annotations

from lossbench.errors import UserError

MASK_NAMES = ("wear", "incorrect", "not_worn")
GENDER_NAMES = ("male", "female")
YOUNG_CUT = 30
#: Class counts of the competition's 18,900 training images, class 0…17 (context.md).
MASK_CLASS_COUNTS = (2745, 2050, 415, 3660, 4085, 545, 549, 410, 83,
                     732, 817, 109, 549, 410, 83, 732, 817, 109)
#: File stem -> mask label: mask1…mask5 are worn, incorrect_mask is worn wrongly, normal is none.
MASK_OF_STEM = {**{f"mask{k}": 0 for k in range(1, 6)}, "incorrect_mask": 1, "normal": 2}


def check_age_cut(age_cut: int) -> int:
    """The age cut must leave the middle band (30 … cut−1) non-empty."""
    if age_cut <= YOUNG_CUT:
        raise UserError(f"age_cut must be greater than {YOUNG_CUT}; got {age_cut}")
    return age_cut


def age_names(age_cut: int = 60) -> list[str]:
    """Names of the three age bands for ``age_cut``, e.g. ``["<30", "30-59", ">=60"]``."""
    check_age_cut(age_cut)
    return [f"<{YOUNG_CUT}", f"{YOUNG_CUT}-{age_cut - 1}", f">={age_cut}"]


def age_band(age: int, age_cut: int = 60) -> int:
    """0 below 30, 1 from 30 to age_cut − 1, 2 from age_cut on."""
    return 0 if age < YOUNG_CUT else (1 if age < age_cut else 2)


def class_index(mask: int, gender: int, age: int) -> int:
    """The 18-class label: mask·6 + gender·3 + age band."""
    return mask * 6 + gender * 3 + age


def class_attributes(age_cut: int = 60) -> dict[str, list[str]]:
    """Attribute value name of each of the 18 classes: ``{"mask": […], "gender": […], "age": […]}``."""
    ages = age_names(age_cut)
    table: dict[str, list[str]] = {"mask": [], "gender": [], "age": []}
    for mask in range(3):
        for gender in range(2):
            for age in range(3):
                table["mask"].append(MASK_NAMES[mask])
                table["gender"].append(GENDER_NAMES[gender])
                table["age"].append(ages[age])
    return table


def class_names(age_cut: int = 60) -> list[str]:
    """The 18 class names, e.g. ``"wear/male/<30"`` for class 0."""
    table = class_attributes(age_cut)
    return ["/".join(values) for values in zip(table["mask"], table["gender"], table["age"])]
