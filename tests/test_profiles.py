"""Schema profiles: the built-in TOML files, header detection, and user TOML validation."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from geo311._errors import ProfileError, SchemaError
from geo311.io.profiles import (
    MAPPABLE,
    Profile,
    detect_profile,
    get_profile,
    list_profiles,
    load_profile,
)


def header(line: str) -> list[str]:
    """Split a CSV header line (no quoted names in these exports)."""
    return line.split(",")


# Headers as the sources publish them (copied from the first line of each export).
BALTIMORE_2019 = header(
    "SRRecordID,ServiceRequestNum,SRType,MethodReceived,CreatedDate,SRStatus,StatusDate,"
    "DueDate,CloseDate,Agency,LastActivity,LastActivityDate,Outcome,Address,ZipCode,"
    "Neighborhood,CouncilDistrict,PoliceDistrict,PolicePost,Latitude,Longitude,GeoLocation"
)
BALTIMORE_2018 = header(
    "objectid,srrecordid,servicerequestnum,srtype,methodreceived,createddate,srstatus,"
    "statusdate,duedate,closedate,agency,lastactivity,lastactivitydate,outcome,address,"
    "zipcode,neighborhood,councildistrict,policedistrict,policepost,latitude,longitude,"
    "geolocation"
)
LA_CAMEL = header(
    "SRNumber,CreatedDate,UpdatedDate,ActionTaken,Owner,RequestType,Status,RequestSource,"
    "MobileOS,Anonymous,AssignTo,ServiceDate,ClosedDate,AddressVerified,ApproximateAddress,"
    "Address,HouseNumber,Direction,StreetName,Suffix,ZipCode,Latitude,Longitude,Location,"
    "TBMPage,TBMColumn,TBMRow,APC,CD,CDMember,NC,NCName,PolicePrecinct"
)
LA_LOWER = header(
    "srnumber,createddate,closeddate,_daystoclose,updateddate,servicedate,requesttype,"
    "requestsource,actiontaken,owner,status,createdbyuserorganization,mobileos,anonymous,"
    "assignto,latitude,longitude,addressverified,approximateaddress,address,housenumber,"
    "direction,streetname,suffix,zipcode,location,apc,cd,cdmember,nc,ncname,policeprecinct,"
    "tbmpage,tbmcolumn,tbmrow"
)
# Keys of one request in an Open311 GeoReport v2 requests.json response.
OPEN311_JSON = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]

VALID_TOML = """
name = "riverton"
timezone = "America/Denver"

[columns]
service_request_id = "Ticket"
requested_datetime = ["Opened", "OpenedAt"]
"""


def _builtin_files() -> list[str]:
    folder = resources.files("geo311.io") / "schemas"
    return sorted(e.name for e in folder.iterdir() if e.name.endswith(".toml"))


def _write(tmp_path: Path, text: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- built-in profiles -----------------------------------------------------------------


def test_every_builtin_file_is_registered() -> None:
    files = _builtin_files()
    assert files, "no built-in profiles found"
    assert sorted(list_profiles()) == sorted(Path(f).stem for f in files)


@pytest.mark.parametrize("filename", _builtin_files())
def test_builtin_toml_loads_and_is_sane(filename: str) -> None:
    with resources.as_file(resources.files("geo311.io") / "schemas" / filename) as path:
        profile = load_profile(path)
    assert profile.name == Path(filename).stem
    assert profile == get_profile(profile.name)
    ZoneInfo(profile.timezone)  # raises if the zone is unknown
    assert profile.timestamp_formats
    assert set(profile.columns) <= set(MAPPABLE)
    assert {"service_request_id", "requested_datetime"} <= set(profile.columns)
    assert profile.detect
    if profile.bbox is not None:
        west, south, east, north = profile.bbox
        assert -180 <= west < east <= 180
        assert -90 <= south < north <= 90


def test_list_profiles_returns_a_copy() -> None:
    profiles = list_profiles()
    profiles.pop("baltimore")
    assert "baltimore" in list_profiles()


# --- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(BALTIMORE_2019, "baltimore", id="baltimore-2019-camelcase"),
        pytest.param(BALTIMORE_2018, "baltimore", id="baltimore-2018-lowercase"),
        pytest.param(LA_CAMEL, "los_angeles", id="la-camelcase"),
        pytest.param(LA_LOWER, "los_angeles", id="la-lowercase"),
        pytest.param(OPEN311_JSON, "open311", id="open311-json-keys"),
    ],
)
def test_detect_profile(header: list[str], expected: str) -> None:
    profile = detect_profile(header, source="export.csv")
    assert profile.name == expected
    # The detected profile can map the header: both required columns are found.
    mapped = profile.resolve(header)
    assert {"service_request_id", "requested_datetime"} <= set(mapped)


def test_lowercase_header_resolves_to_the_actual_column_names() -> None:
    mapped = get_profile("baltimore").resolve(BALTIMORE_2018)
    assert mapped["service_request_id"] == "servicerequestnum"
    assert mapped["requested_datetime"] == "createddate"
    assert mapped["lat"] == "latitude"
    assert mapped["location"] == "geolocation"


def test_alternative_names_first_present_wins() -> None:
    profile = get_profile("baltimore")
    assert profile.resolve(BALTIMORE_2019)["updated_datetime"] == "StatusDate"
    without_status_date = [c for c in BALTIMORE_2019 if c != "StatusDate"]
    assert profile.resolve(without_status_date)["updated_datetime"] == "LastActivityDate"


def test_open311_is_case_sensitive() -> None:
    header = [c.upper() for c in OPEN311_JSON]
    with pytest.raises(ProfileError, match="no schema profile recognises"):
        detect_profile(header)


def test_ambiguous_header_lists_the_candidates() -> None:
    header = ["ServiceRequestNum", "SRType", "SRNumber", "RequestType", "CreatedDate"]
    with pytest.raises(ProfileError) as info:
        detect_profile(header, source="both.csv")
    text = str(info.value)
    assert "both.csv" in text
    assert "several profiles" in text
    assert "baltimore" in text
    assert "los_angeles" in text
    assert "open311" not in text
    assert "--schema" in text


def test_unknown_header_lists_every_profile() -> None:
    with pytest.raises(ProfileError) as info:
        detect_profile(["Ticket", "Opened"], source="riverton.csv")
    text = str(info.value)
    assert "riverton.csv" in text
    assert "Ticket" in text
    for name, profile in list_profiles().items():
        assert name in text
        assert all(col in text for col in profile.detect)


def test_non_string_column_names_do_not_crash_detection() -> None:
    with pytest.raises(ProfileError, match="no schema profile"):
        detect_profile([0, 1, "x"])  # type: ignore[list-item]


def test_resolve_names_missing_required_columns() -> None:
    with pytest.raises(SchemaError) as info:
        get_profile("baltimore").resolve(["ServiceRequestNum", "Address"], source="x.csv")
    text = str(info.value)
    assert "x.csv" in text
    assert "requested_datetime (one of CreatedDate)" in text
    assert "Columns found: ServiceRequestNum, Address" in text


# --- user TOML ---------------------------------------------------------------------------


def test_valid_user_toml_gets_defaults(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, VALID_TOML))
    assert profile.name == "riverton"
    assert profile.title == "riverton"
    assert profile.timestamp_formats == ("ISO8601",)
    assert profile.naive == "local"
    assert profile.crs == "EPSG:4326"
    assert profile.bbox is None
    assert profile.case_sensitive is False
    assert profile.detect == ("Ticket", "Opened")
    assert profile.columns["requested_datetime"] == ("Opened", "OpenedAt")
    assert profile.path == str(tmp_path / "profile.toml")


def test_status_words_are_case_folded(tmp_path: Path) -> None:
    text = VALID_TOML + '\n[status]\nopen = ["Waiting", "ASSIGNED"]\nclosed = "Done"\n'
    profile = load_profile(_write(tmp_path, text))
    assert profile.status_open == ("waiting", "assigned")
    assert profile.status_closed == ("done",)


BROKEN_TOML = """
name = "broken"
timezone = "America/Nowhere"
colour = "blue"
bbox = [-76.5, 39.4, -76.7, 39.2]

[columns]
requested_datetime = "Opened"
favourite = "Ticket"

[coordinates]
lat = "Y"
long = "X"
crs = "EPSG:999999"

[timestamps]
formats = ["dd.mm.yyyy"]
"""


def test_invalid_toml_lists_every_problem_in_one_error(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN_TOML)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    text = str(info.value)
    assert str(path) in text
    expected = [
        "unknown keys ['colour']",
        "timezone 'America/Nowhere' is not an IANA zone",
        "bbox must be [west, south, east, north]",
        "[columns] 'favourite' is not a mappable column",
        "[columns] must map 'service_request_id'",
        "crs 'EPSG:999999' is not a CRS",
        "[timestamps] formats ['dd.mm.yyyy']",
    ]
    for phrase in expected:
        assert phrase in text, phrase
    assert f"({len(expected)} problems)" in text


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        ("oops = 1\n", "unknown keys ['oops']"),
        ('[timestamps]\nnaive = "Z"\n', "naive must be 'local' or 'UTC'"),
        ('[timestamps]\nwhen = "x"\n', "[timestamps] has unknown keys ['when']"),
        ("bbox = [1, 2, 3]\n", "bbox must be"),
        ("bbox = [-200, 39.2, -76.5, 39.4]\n", "bbox must be"),
        ('bbox = [-76.7, 39.2, -76.5, "north"]\n', "bbox must be"),
        ('[coordinates]\nlat = "Y"\n', "needs both 'lat' and 'long'"),
        ('[coordinates]\ncrs = "not a crs"\n', "crs 'not a crs' is not a CRS"),
        ("[coordinates]\ncrs = 2248\n", "crs 2248 is not a CRS"),
        ("[status]\nopen = 1\n", "[status] open must be a string or a list of strings"),
        ('status = "open"\n', "[status] must be a table"),
        ('case_sensitive = "yes"\n', "'case_sensitive' must be true or false"),
        ("detect = 3\n", "detect must be a string or a list of strings"),
    ],
)
def test_each_problem_is_reported(tmp_path: Path, extra: str, phrase: str) -> None:
    # Top-level keys must come before the first table, so prepend plain keys.
    text = extra + VALID_TOML if not extra.startswith("[") else VALID_TOML + extra
    with pytest.raises(ProfileError) as info:
        load_profile(_write(tmp_path, text))
    assert phrase in str(info.value)


def test_missing_name_timezone_and_columns(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(_write(tmp_path, 'title = "nothing else"\n'))
    text = str(info.value)
    assert "'name' is required" in text
    assert "'timezone' is required" in text
    assert "[columns] must map 'service_request_id'" in text
    assert "[columns] must map 'requested_datetime'" in text


def test_columns_that_are_not_a_table(tmp_path: Path) -> None:
    text = 'name = "x"\ntimezone = "UTC"\ncolumns = "Ticket"\n'
    with pytest.raises(ProfileError) as info:
        load_profile(_write(tmp_path, text))
    assert "[columns] must be a table" in str(info.value)


def test_not_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "name = [unclosed\n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(tmp_path / "absent.toml")


def test_profile_error_is_a_schema_and_value_error() -> None:
    assert issubclass(ProfileError, SchemaError)
    assert issubclass(ProfileError, ValueError)


# --- get_profile -------------------------------------------------------------------------


def test_get_profile_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ProfileError) as info:
        get_profile("baltimor")
    text = str(info.value)
    assert "'baltimor'" in text
    for name in list_profiles():
        assert name in text


def test_get_profile_unknown_name_that_is_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "riverton").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError, match="built-in profiles"):
        get_profile("riverton")


def test_get_profile_accepts_profile_path_and_string(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID_TOML)
    by_path = get_profile(path)
    assert isinstance(by_path, Profile)
    assert by_path.name == "riverton"
    assert get_profile(str(path)) == by_path
    assert get_profile(by_path) is by_path
    assert get_profile("open311").name == "open311"
