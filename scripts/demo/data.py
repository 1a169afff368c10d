"""The Kanazawa demo: who takes part and what they do. Plain data; `scripts/demo/seed.py` plays it through the API.

Demo accounts are derived from fixed labels (keccak of the label is the private key), so a second run finds the same
members, organisations and votes. They are public test keys, like anvil's: for the devnet only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

MATCHBOX_EXPORT = Path(__file__).with_name("matchbox_issues.csv")
#: The source name imported issues carry (the citizens' board マッチ箱, as exported).
MATCHBOX_SOURCE = "matchbako"

RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION = 1, 2, 3
AGAINST, FOR, ABSTAIN = 0, 1, 2


def demo_account(label: str) -> LocalAccount:
    return Account.from_key(keccak(text=f"kanazawa-dao demo: {label}"))


@dataclass(frozen=True)
class Organisation:
    key: str
    name_ja: str
    name_en: str
    description: str
    website: str

    @property
    def admin(self) -> LocalAccount:
        return demo_account(f"organisation admin {self.key}")


ORGANISATIONS = [
    Organisation("crafts", "金沢工芸アソシエーション", "Kanazawa Crafts Association",
                 "金箔、加賀友禅、大樋焼など金沢の工芸の作り手と使い手をつなぐ団体。 Makers and patrons of Kanazawa's crafts: "
                 "gold leaf, Kaga-yuzen, Ohi ware.", "https://crafts.kanazawa-dao.example/"),
    Organisation("jazz", "金沢ジャズストリート実行委員会", "Kanazawa Jazz Street Committee",
                 "毎年秋に市内各所で開かれるジャズフェスティバルの実行委員会。 Runs the jazz festival held across the city "
                 "every autumn.", "https://jazz.kanazawa-dao.example/"),
    Organisation("museum", "金沢まちなか美術館", "Kanazawa Machinaka Art Museum",
                 "現代美術と工芸の美術館。デジタルアーカイブを公開。 A museum of contemporary art and crafts with an open "
                 "digital archive.", "https://museum.kanazawa-dao.example/"),
    Organisation("higashi", "東山ひがし町会", "Higashiyama-Higashi Neighbourhood Association",
                 "ひがし茶屋街を含む町会。まちあるきや祭りを運営。 The neighbourhood association of the Higashi Chaya "
                 "district: walks, festivals, street life.", "https://higashi.kanazawa-dao.example/"),
]
ORGANISATION_BY_KEY = {o.key: o for o in ORGANISATIONS}


@dataclass(frozen=True)
class Member:
    number: int
    segment: int
    invited_by: str  # organisation key

    @property
    def account(self) -> LocalAccount:
        return demo_account(f"member {self.number}")


def _members() -> list[Member]:
    """30 residents, 20 of the relationship population, 10 organisation staff, invited by the four organisations."""
    segments = [RESIDENT] * 30 + [RELATIONSHIP_POPULATION] * 20 + [ORGANISATION] * 10
    keys = [o.key for o in ORGANISATIONS]
    return [Member(n, segment, keys[n % len(keys)]) for n, segment in enumerate(segments)]


MEMBERS = _members()
RESIDENTS = [m for m in MEMBERS if m.segment == RESIDENT]
RELATIONSHIP = [m for m in MEMBERS if m.segment == RELATIONSHIP_POPULATION]
STAFF = [m for m in MEMBERS if m.segment == ORGANISATION]


@dataclass(frozen=True)
class Proposal:
    key: str
    title_ja: str
    title_en: str
    body_ja: str
    body_en: str
    category: str
    #: the external ids of the linked issues (imported from マッチ箱)
    issues: tuple[str, ...]
    #: where the demo leaves it: active | succeeded | defeated | executed
    ends: str
    #: (members, support) in the order cast
    votes: tuple[tuple[tuple[Member, ...], int], ...] = ()
    #: "city" or a member who drafts it (the rule: a linked issue with enough supports)
    author: str | Member = "city"
    outcomes: tuple[dict, ...] = ()


def _v(members: list[Member], support: int) -> tuple[tuple[Member, ...], int]:
    return tuple(members), support


PROPOSALS = [
    Proposal(
        "workshop", "若手職人のメタバース工房", "A metaverse workshop for young artisans",
        "金箔・加賀友禅の若手職人が常設のバーチャル工房で制作を公開し、関係人口が作品を支援できるようにする。市は初年度の"
        "空間運営費を負担する。",
        "Young gold-leaf and Kaga-yuzen artisans open a permanent virtual workshop where the relationship population "
        "can watch them work and support their pieces. The city covers the first year's running costs.",
        "culture", ("mb-1002", "mb-1023"), "executed",
        votes=(_v(RESIDENTS[:10], FOR), _v(RELATIONSHIP[:8], FOR), _v(STAFF[:4], FOR), _v(RESIDENTS[10:13], AGAINST),
               _v(RESIDENTS[13:15], ABSTAIN)),
        outcomes=(
            {"status": "adopted", "summary_ja": "採択。令和8年度予算で工房を開設する。",
             "summary_en": "Adopted. The workshop opens with the next fiscal year's budget.",
             "body_ja": "議決を受け、文化スポーツ局が運営団体と協定を結んだ。",
             "body_en": "Following the vote, the Culture and Sports Bureau signed an agreement with the operators.",
             "links": ["https://www.city.kanazawa.ishikawa.jp/"]},
            {"status": "implemented", "summary_ja": "工房を開設し、12名の職人が参加。",
             "summary_en": "The workshop is open; 12 artisans take part.",
             "body_ja": "初月の来場は延べ3,400人。関係人口からの作品支援は87件。",
             "body_en": "3,400 visits in the first month; 87 pieces supported by the relationship population.",
             "links": []},
        )),
    Proposal(
        "jazz-stream", "ジャズストリートのオンライン同時配信", "Live-streaming Kanazawa Jazz Street",
        "金沢ジャズストリートの主要ステージを、市外に住む関係人口に向けて同時配信する。",
        "Stream the main stages of Kanazawa Jazz Street live for the relationship population living outside the city.",
        "culture", ("mb-1005",), "succeeded",
        votes=(_v(RELATIONSHIP[:14], FOR), _v(RESIDENTS[:9], FOR), _v(STAFF[:3], FOR), _v(RESIDENTS[20:24], AGAINST))),
    Proposal(
        "car-free", "ひがし茶屋街の週末歩行者天国", "Car-free weekends in the Higashi Chaya district",
        "土日の10時から17時まで、ひがし茶屋街の通りを歩行者専用にする。",
        "Close the streets of the Higashi Chaya district to cars on Saturdays and Sundays from 10:00 to 17:00.",
        "town-planning", ("mb-1003", "mb-1022"), "defeated",
        # More for than against overall, but residents are against: defeated by the double majority.
        votes=(_v(RELATIONSHIP[:16], FOR), _v(STAFF[:6], FOR), _v(RESIDENTS[:5], FOR), _v(RESIDENTS[5:16], AGAINST),
               _v(RELATIONSHIP[16:18], AGAINST))),
    Proposal(
        "tsuzumi-mon", "鼓門のプロジェクションマッピング化", "Projection mapping on the Tsuzumi-mon gate",
        "金沢駅の鼓門の照明を、季節ごとのプロジェクションマッピングに置き換える。",
        "Replace the Tsuzumi-mon gate lighting at Kanazawa Station with seasonal projection mapping.",
        "culture", ("mb-1010",), "defeated",
        votes=(_v(RELATIONSHIP[:4], FOR), _v(RESIDENTS[:3], FOR), _v(RESIDENTS[3:15], AGAINST),
               _v(STAFF[:3], AGAINST), _v(RELATIONSHIP[4:6], ABSTAIN))),
    Proposal(
        "kenroku-lights", "兼六園周辺の夜間照明", "Night lighting around Kenroku-en",
        "兼六園から石引までの歩道に、景観に配慮した低い位置の照明を設置する。",
        "Install low, landscape-friendly lights on the footpath from Kenroku-en to Ishibiki.",
        "town-planning", ("mb-1001",), "active",
        votes=(_v(RESIDENTS[:6], FOR), _v(RESIDENTS[6:8], AGAINST), _v(RELATIONSHIP[:4], FOR)),
        author=RESIDENTS[0]),
    Proposal(
        "noh-stage", "卯辰山の野外能舞台の再生", "Reviving the open-air Noh stage on Mt Utatsu",
        "卯辰山の野外舞台を修復し、加賀宝生の能を年2回上演する。",
        "Restore the open-air stage on Mt Utatsu and stage Kaga Hosho Noh twice a year.",
        "culture", ("mb-1017",), "active",
        votes=(_v(RELATIONSHIP[5:9], FOR), _v(RESIDENTS[20:22], ABSTAIN))),
]

#: Supports on imported issues (external id -> members), so a member may draft from them (the rule).
SUPPORTS = {
    "mb-1001": RESIDENTS[1:6] + RELATIONSHIP[:2],
    "mb-1002": RESIDENTS[6:9] + STAFF[:2],
    "mb-1005": RELATIONSHIP[2:10],
    "mb-1003": RESIDENTS[9:14],
    "mb-1017": RESIDENTS[14:17] + RELATIONSHIP[10:12],
    "mb-1012": RESIDENTS[17:19],
}
COMMENTS = {
    "mb-1001": [(RESIDENTS[2], "通勤で毎晩通ります。足元だけでも明るくしてほしい。"),
                (RELATIONSHIP[0], "Visiting last winter I nearly tripped near the Ishibiki side. Strongly support.")],
    "mb-1003": [(RESIDENTS[10], "住民の車の出入りはどうなるのか、具体案が必要。")],
    "mb-1005": [(RELATIONSHIP[3], "東京から毎年帰るのは難しいので、配信があればうれしいです。")],
}


@dataclass(frozen=True)
class Event:
    key: str
    organisation: str
    title_ja: str
    title_en: str
    space: str
    #: start and end relative to now, in hours
    starts_in_h: float
    ends_in_h: float
    proposal: str | None
    #: attendees reported by the platform's webhook (members, and a few visitors without a card)
    webhook: tuple[Member, ...] = ()
    visitors: int = 0
    #: attendees who check in themselves with the event's code (the event must be on)
    check_ins: tuple[Member, ...] = ()
    description: str = ""

    def window(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        return now + dt.timedelta(hours=self.starts_in_h), now + dt.timedelta(hours=self.ends_in_h)


EVENTS = [
    Event("goldleaf-tour", "crafts", "金箔工房のバーチャル見学会", "Virtual tour of a gold-leaf workshop",
          "cluster: Kanazawa Kogei World", -240, -238, "workshop",
          webhook=tuple(RESIDENTS[:8] + RELATIONSHIP[:7] + STAFF[:2]), visitors=3,
          description="職人の手元を360度カメラで。 The artisan's hands, in 360°."),
    Event("jazz-night", "jazz", "メタバース・ジャズナイト", "Metaverse Jazz Night",
          "VRChat: Kanazawa Jazz Street Hall", -72, -69, "jazz-stream",
          webhook=tuple(RELATIONSHIP[:15] + RESIDENTS[:6]), visitors=5),
    Event("archive-viewing", "museum", "デジタルアーカイブ鑑賞会", "Digital archive viewing",
          "Museum virtual gallery (WebXR)", -26, -24.5, "tsuzumi-mon",
          webhook=tuple(RESIDENTS[3:12] + RELATIONSHIP[4:8])),
    Event("higashi-walk", "higashi", "オンラインまちあるき：ひがし茶屋街", "Online walk through Higashi Chaya",
          "cluster: Higashi Chaya street", -0.5, 2, "kenroku-lights",
          check_ins=tuple(RESIDENTS[:5] + RELATIONSHIP[:3])),
]


@dataclass
class BadgeType:
    organisation: str
    name: str
    kind: str
    description: str = ""
    max_supply: int = 0
    soulbound: bool = True
    extra: dict = field(default_factory=dict)


BADGE_TYPES = [
    BadgeType("crafts", "金箔工房見学 参加章 / Gold-leaf workshop tour attendance", "attendance"),
    BadgeType("jazz", "メタバース・ジャズナイト 参加章 / Metaverse Jazz Night attendance", "attendance"),
    BadgeType("museum", "デジタルアーカイブ鑑賞会 参加章 / Digital archive viewing attendance", "attendance"),
    BadgeType("higashi", "ひがし茶屋街まちあるき 参加章 / Higashi Chaya walk attendance", "attendance"),
    BadgeType("museum", "美術館 年間パス / Museum annual pass", "perk", "常設展に何度でも入場できます。 Unlimited entry to "
              "the collection galleries.", max_supply=500),
    BadgeType("crafts", "若手職人応援 / Young artisans' supporter", "cultural-work", soulbound=False),
]
#: The attendance badge type of each event (by organisation).
EVENT_BADGE = {e.key: next(b for b in BADGE_TYPES if b.organisation == e.organisation and b.kind == "attendance")
               for e in EVENTS}
