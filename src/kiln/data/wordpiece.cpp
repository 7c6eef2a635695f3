#include "kiln/data/wordpiece.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"

namespace kiln::data {

namespace {

// ---------------------------------------------------------------------------
// Unicode tables, generated from Python 3.11's unicodedata (Unicode 14.0):
//  - range lists "first-last" or "code point" in hex, for
//    kPunctuation: category P* plus ASCII 33-47, 58-64, 91-96, 123-126;
//    kControl: Cc and Cf except tab, LF, CR; kSpaceSeparator: Zs;
//    kNonspacingMark: Mn;
//  - kLowercase: runs "first-last/stride:delta" (stride 1 unless given) of
//    code points c whose str.lower() is the single code point c + delta;
//  - kAccentBase: pairs "precomposed, base" for the blocks U+00C0-024F,
//    U+0370-04FF, U+1E00-1FFF, U+2100-214F, U+3040-30FF where NFD followed by
//    dropping Mn leaves one code point different from the original.
// The tables are data, parsed once; keeping them as text keeps them diffable.

constexpr std::string_view kPunctuation =
    "21-2f 3a-40 5b-60 7b-7e a1 a7 ab b6-b7 bb bf 37e 387 55a-55f 589-58a 5be 5c0 5c3 5c6 5f3-5f4 "
    "609-60a 60c-60d 61b 61d-61f 66a-66d 6d4 700-70d 7f7-7f9 830-83e 85e 964-965 970 9fd a76 af0 c77 "
    "c84 df4 e4f e5a-e5b f04-f12 f14 f3a-f3d f85 fd0-fd4 fd9-fda 104a-104f 10fb 1360-1368 1400 166e "
    "169b-169c 16eb-16ed 1735-1736 17d4-17d6 17d8-17da 1800-180a 1944-1945 1a1e-1a1f 1aa0-1aa6 "
    "1aa8-1aad 1b5a-1b60 1b7d-1b7e 1bfc-1bff 1c3b-1c3f 1c7e-1c7f 1cc0-1cc7 1cd3 2010-2027 2030-2043 "
    "2045-2051 2053-205e 207d-207e 208d-208e 2308-230b 2329-232a 2768-2775 27c5-27c6 27e6-27ef "
    "2983-2998 29d8-29db 29fc-29fd 2cf9-2cfc 2cfe-2cff 2d70 2e00-2e2e 2e30-2e4f 2e52-2e5d 3001-3003 "
    "3008-3011 3014-301f 3030 303d 30a0 30fb a4fe-a4ff a60d-a60f a673 a67e a6f2-a6f7 a874-a877 "
    "a8ce-a8cf a8f8-a8fa a8fc a92e-a92f a95f a9c1-a9cd a9de-a9df aa5c-aa5f aade-aadf aaf0-aaf1 abeb "
    "fd3e-fd3f fe10-fe19 fe30-fe52 fe54-fe61 fe63 fe68 fe6a-fe6b ff01-ff03 ff05-ff0a ff0c-ff0f "
    "ff1a-ff1b ff1f-ff20 ff3b-ff3d ff3f ff5b ff5d ff5f-ff65 10100-10102 1039f 103d0 1056f 10857 1091f "
    "1093f 10a50-10a58 10a7f 10af0-10af6 10b39-10b3f 10b99-10b9c 10ead 10f55-10f59 10f86-10f89 "
    "11047-1104d 110bb-110bc 110be-110c1 11140-11143 11174-11175 111c5-111c8 111cd 111db 111dd-111df "
    "11238-1123d 112a9 1144b-1144f 1145a-1145b 1145d 114c6 115c1-115d7 11641-11643 11660-1166c 116b9 "
    "1173c-1173e 1183b 11944-11946 119e2 11a3f-11a46 11a9a-11a9c 11a9e-11aa2 11c41-11c45 11c70-11c71 "
    "11ef7-11ef8 11fff 12470-12474 12ff1-12ff2 16a6e-16a6f 16af5 16b37-16b3b 16b44 16e97-16e9a 16fe2 "
    "1bc9f 1da87-1da8b 1e95e-1e95f ";

constexpr std::string_view kControl =
    "0-8 b-c e-1f 7f-9f ad 600-605 61c 6dd 70f 890-891 8e2 180e 200b-200f 202a-202e 2060-2064 "
    "2066-206f feff fff9-fffb 110bd 110cd 13430-13438 1bca0-1bca3 1d173-1d17a e0001 e0020-e007f ";

constexpr std::string_view kSpaceSeparator =
    "20 a0 1680 2000-200a 202f 205f 3000 ";

constexpr std::string_view kNonspacingMark =
    "300-36f 483-487 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 64b-65f 670 6d6-6dc 6df-6e4 6e7-6e8 "
    "6ea-6ed 711 730-74a 7a6-7b0 7eb-7f3 7fd 816-819 81b-823 825-827 829-82d 859-85b 898-89f 8ca-8e1 "
    "8e3-902 93a 93c 941-948 94d 951-957 962-963 981 9bc 9c1-9c4 9cd 9e2-9e3 9fe a01-a02 a3c a41-a42 "
    "a47-a48 a4b-a4d a51 a70-a71 a75 a81-a82 abc ac1-ac5 ac7-ac8 acd ae2-ae3 afa-aff b01 b3c b3f "
    "b41-b44 b4d b55-b56 b62-b63 b82 bc0 bcd c00 c04 c3c c3e-c40 c46-c48 c4a-c4d c55-c56 c62-c63 c81 "
    "cbc cbf cc6 ccc-ccd ce2-ce3 d00-d01 d3b-d3c d41-d44 d4d d62-d63 d81 dca dd2-dd4 dd6 e31 e34-e3a "
    "e47-e4e eb1 eb4-ebc ec8-ecd f18-f19 f35 f37 f39 f71-f7e f80-f84 f86-f87 f8d-f97 f99-fbc fc6 "
    "102d-1030 1032-1037 1039-103a 103d-103e 1058-1059 105e-1060 1071-1074 1082 1085-1086 108d 109d "
    "135d-135f 1712-1714 1732-1733 1752-1753 1772-1773 17b4-17b5 17b7-17bd 17c6 17c9-17d3 17dd "
    "180b-180d 180f 1885-1886 18a9 1920-1922 1927-1928 1932 1939-193b 1a17-1a18 1a1b 1a56 1a58-1a5e "
    "1a60 1a62 1a65-1a6c 1a73-1a7c 1a7f 1ab0-1abd 1abf-1ace 1b00-1b03 1b34 1b36-1b3a 1b3c 1b42 "
    "1b6b-1b73 1b80-1b81 1ba2-1ba5 1ba8-1ba9 1bab-1bad 1be6 1be8-1be9 1bed 1bef-1bf1 1c2c-1c33 "
    "1c36-1c37 1cd0-1cd2 1cd4-1ce0 1ce2-1ce8 1ced 1cf4 1cf8-1cf9 1dc0-1dff 20d0-20dc 20e1 20e5-20f0 "
    "2cef-2cf1 2d7f 2de0-2dff 302a-302d 3099-309a a66f a674-a67d a69e-a69f a6f0-a6f1 a802 a806 a80b "
    "a825-a826 a82c a8c4-a8c5 a8e0-a8f1 a8ff a926-a92d a947-a951 a980-a982 a9b3 a9b6-a9b9 a9bc-a9bd "
    "a9e5 aa29-aa2e aa31-aa32 aa35-aa36 aa43 aa4c aa7c aab0 aab2-aab4 aab7-aab8 aabe-aabf aac1 "
    "aaec-aaed aaf6 abe5 abe8 abed fb1e fe00-fe0f fe20-fe2f 101fd 102e0 10376-1037a 10a01-10a03 "
    "10a05-10a06 10a0c-10a0f 10a38-10a3a 10a3f 10ae5-10ae6 10d24-10d27 10eab-10eac 10f46-10f50 "
    "10f82-10f85 11001 11038-11046 11070 11073-11074 1107f-11081 110b3-110b6 110b9-110ba 110c2 "
    "11100-11102 11127-1112b 1112d-11134 11173 11180-11181 111b6-111be 111c9-111cc 111cf 1122f-11231 "
    "11234 11236-11237 1123e 112df 112e3-112ea 11300-11301 1133b-1133c 11340 11366-1136c 11370-11374 "
    "11438-1143f 11442-11444 11446 1145e 114b3-114b8 114ba 114bf-114c0 114c2-114c3 115b2-115b5 "
    "115bc-115bd 115bf-115c0 115dc-115dd 11633-1163a 1163d 1163f-11640 116ab 116ad 116b0-116b5 116b7 "
    "1171d-1171f 11722-11725 11727-1172b 1182f-11837 11839-1183a 1193b-1193c 1193e 11943 119d4-119d7 "
    "119da-119db 119e0 11a01-11a0a 11a33-11a38 11a3b-11a3e 11a47 11a51-11a56 11a59-11a5b 11a8a-11a96 "
    "11a98-11a99 11c30-11c36 11c38-11c3d 11c3f 11c92-11ca7 11caa-11cb0 11cb2-11cb3 11cb5-11cb6 "
    "11d31-11d36 11d3a 11d3c-11d3d 11d3f-11d45 11d47 11d90-11d91 11d95 11d97 11ef3-11ef4 16af0-16af4 "
    "16b30-16b36 16f4f 16f8f-16f92 16fe4 1bc9d-1bc9e 1cf00-1cf2d 1cf30-1cf46 1d167-1d169 1d17b-1d182 "
    "1d185-1d18b 1d1aa-1d1ad 1d242-1d244 1da00-1da36 1da3b-1da6c 1da75 1da84 1da9b-1da9f 1daa1-1daaf "
    "1e000-1e006 1e008-1e018 1e01b-1e021 1e023-1e024 1e026-1e02a 1e130-1e136 1e2ae 1e2ec-1e2ef "
    "1e8d0-1e8d6 1e944-1e94a e0100-e01ef ";

constexpr std::string_view kLowercase =
    "41-5a:20 c0-d6:20 d8-de:20 100-12e/2:1 132-136/2:1 139-147/2:1 14a-176/2:1 178:-79 179-17d/2:1 "
    "181:d2 182-184/2:1 186:ce 187:1 189-18a:cd 18b:1 18e:4f 18f:ca 190:cb 191:1 193:cd 194:cf 196:d3 "
    "197:d1 198:1 19c:d3 19d:d5 19f:d6 1a0-1a4/2:1 1a6:da 1a7:1 1a9:da 1ac:1 1ae:da 1af:1 1b1-1b2:d9 "
    "1b3-1b5/2:1 1b7:db 1b8:1 1bc:1 1c4:2 1c5:1 1c7:2 1c8:1 1ca:2 1cb-1db/2:1 1de-1ee/2:1 1f1:2 "
    "1f2-1f4/2:1 1f6:-61 1f7:-38 1f8-21e/2:1 220:-82 222-232/2:1 23a:2a2b 23b:1 23d:-a3 23e:2a28 "
    "241:1 243:-c3 244:45 245:47 246-24e/2:1 370-372/2:1 376:1 37f:74 386:26 388-38a:25 38c:40 "
    "38e-38f:3f 391-3a1:20 3a3-3ab:20 3cf:8 3d8-3ee/2:1 3f4:-3c 3f7:1 3f9:-7 3fa:1 3fd-3ff:-82 "
    "400-40f:50 410-42f:20 460-480/2:1 48a-4be/2:1 4c0:f 4c1-4cd/2:1 4d0-52e/2:1 531-556:30 "
    "10a0-10c5:1c60 10c7:1c60 10cd:1c60 13a0-13ef:97d0 13f0-13f5:8 1c90-1cba:-bc0 1cbd-1cbf:-bc0 "
    "1e00-1e94/2:1 1e9e:-1dbf 1ea0-1efe/2:1 1f08-1f0f:-8 1f18-1f1d:-8 1f28-1f2f:-8 1f38-1f3f:-8 "
    "1f48-1f4d:-8 1f59-1f5f/2:-8 1f68-1f6f:-8 1f88-1f8f:-8 1f98-1f9f:-8 1fa8-1faf:-8 1fb8-1fb9:-8 "
    "1fba-1fbb:-4a 1fbc:-9 1fc8-1fcb:-56 1fcc:-9 1fd8-1fd9:-8 1fda-1fdb:-64 1fe8-1fe9:-8 "
    "1fea-1feb:-70 1fec:-7 1ff8-1ff9:-80 1ffa-1ffb:-7e 1ffc:-9 2126:-1d5d 212a:-20bf 212b:-2046 "
    "2132:1c 2160-216f:10 2183:1 24b6-24cf:1a 2c00-2c2f:30 2c60:1 2c62:-29f7 2c63:-ee6 2c64:-29e7 "
    "2c67-2c6b/2:1 2c6d:-2a1c 2c6e:-29fd 2c6f:-2a1f 2c70:-2a1e 2c72:1 2c75:1 2c7e-2c7f:-2a3f "
    "2c80-2ce2/2:1 2ceb-2ced/2:1 2cf2:1 a640-a66c/2:1 a680-a69a/2:1 a722-a72e/2:1 a732-a76e/2:1 "
    "a779-a77b/2:1 a77d:-8a04 a77e-a786/2:1 a78b:1 a78d:-a528 a790-a792/2:1 a796-a7a8/2:1 a7aa:-a544 "
    "a7ab:-a54f a7ac:-a54b a7ad:-a541 a7ae:-a544 a7b0:-a512 a7b1:-a52a a7b2:-a515 a7b3:3a0 "
    "a7b4-a7c2/2:1 a7c4:-30 a7c5:-a543 a7c6:-8a38 a7c7-a7c9/2:1 a7d0:1 a7d6-a7d8/2:1 a7f5:1 "
    "ff21-ff3a:20 10400-10427:28 104b0-104d3:28 10570-1057a:27 1057c-1058a:27 1058c-10592:27 "
    "10594-10595:27 10c80-10cb2:40 118a0-118bf:20 16e40-16e5f:20 1e900-1e921:22 ";

constexpr std::string_view kAccentBase =
    "ÀAÁAÂAÃAÄAÅAÇCÈEÉEÊEËEÌIÍIÎIÏIÑNÒOÓOÔOÕOÖOÙUÚUÛUÜUÝYàaáaâaãaäaåaçcèeéeêeëeìiíiîi"
    "ïiñnòoóoôoõoöoùuúuûuüuýyÿyĀAāaĂAăaĄAąaĆCćcĈCĉcĊCċcČCčcĎDďdĒEēeĔEĕeĖEėeĘEęeĚEěeĜG"
    "ĝgĞGğgĠGġgĢGģgĤHĥhĨIĩiĪIīiĬIĭiĮIįiİIĴJĵjĶKķkĹLĺlĻLļlĽLľlŃNńnŅNņnŇNňnŌOōoŎOŏoŐOőo"
    "ŔRŕrŖRŗrŘRřrŚSśsŜSŝsŞSşsŠSšsŢTţtŤTťtŨUũuŪUūuŬUŭuŮUůuŰUűuŲUųuŴWŵwŶYŷyŸYŹZźzŻZżzŽZ"
    "žzƠOơoƯUưuǍAǎaǏIǐiǑOǒoǓUǔuǕUǖuǗUǘuǙUǚuǛUǜuǞAǟaǠAǡaǢÆǣæǦGǧgǨKǩkǪOǫoǬOǭoǮƷǯʒǰjǴGǵg"
    "ǸNǹnǺAǻaǼÆǽæǾØǿøȀAȁaȂAȃaȄEȅeȆEȇeȈIȉiȊIȋiȌOȍoȎOȏoȐRȑrȒRȓrȔUȕuȖUȗuȘSșsȚTțtȞHȟhȦAȧa"
    "ȨEȩeȪOȫoȬOȭoȮOȯoȰOȱoȲYȳyʹʹ;;΅¨ΆΑ··ΈΕΉΗΊΙΌΟΎΥΏΩΐιΪΙΫΥάαέεήηίιΰυϊιϋυόούυώωϓϒϔϒЀЕЁЕ"
    "ЃГЇІЌКЍИЎУЙИйиѐеёеѓгїіќкѝиўуѶѴѷѵӁЖӂжӐАӑаӒАӓаӖЕӗеӚӘӛәӜЖӝжӞЗӟзӢИӣиӤИӥиӦОӧоӪӨӫөӬЭӭэ"
    "ӮУӯуӰУӱуӲУӳуӴЧӵчӸЫӹыḀAḁaḂBḃbḄBḅbḆBḇbḈCḉcḊDḋdḌDḍdḎDḏdḐDḑdḒDḓdḔEḕeḖEḗeḘEḙeḚEḛeḜEḝe"
    "ḞFḟfḠGḡgḢHḣhḤHḥhḦHḧhḨHḩhḪHḫhḬIḭiḮIḯiḰKḱkḲKḳkḴKḵkḶLḷlḸLḹlḺLḻlḼLḽlḾMḿmṀMṁmṂMṃmṄNṅn"
    "ṆNṇnṈNṉnṊNṋnṌOṍoṎOṏoṐOṑoṒOṓoṔPṕpṖPṗpṘRṙrṚRṛrṜRṝrṞRṟrṠSṡsṢSṣsṤSṥsṦSṧsṨSṩsṪTṫtṬTṭt"
    "ṮTṯtṰTṱtṲUṳuṴUṵuṶUṷuṸUṹuṺUṻuṼVṽvṾVṿvẀWẁwẂWẃwẄWẅwẆWẇwẈWẉwẊXẋxẌXẍxẎYẏyẐZẑzẒZẓzẔZẕz"
    "ẖhẗtẘwẙyẛſẠAạaẢAảaẤAấaẦAầaẨAẩaẪAẫaẬAậaẮAắaẰAằaẲAẳaẴAẵaẶAặaẸEẹeẺEẻeẼEẽeẾEếeỀEềeỂE"
    "ểeỄEễeỆEệeỈIỉiỊIịiỌOọoỎOỏoỐOốoỒOồoỔOổoỖOỗoỘOộoỚOớoỜOờoỞOởoỠOỡoỢOợoỤUụuỦUủuỨUứuỪU"
    "ừuỬUửuỮUữuỰUựuỲYỳyỴYỵyỶYỷyỸYỹyἀαἁαἂαἃαἄαἅαἆαἇαἈΑἉΑἊΑἋΑἌΑἍΑἎΑἏΑἐεἑεἒεἓεἔεἕεἘΕἙΕἚΕ"
    "ἛΕἜΕἝΕἠηἡηἢηἣηἤηἥηἦηἧηἨΗἩΗἪΗἫΗἬΗἭΗἮΗἯΗἰιἱιἲιἳιἴιἵιἶιἷιἸΙἹΙἺΙἻΙἼΙἽΙἾΙἿΙὀοὁοὂοὃοὄο"
    "ὅοὈΟὉΟὊΟὋΟὌΟὍΟὐυὑυὒυὓυὔυὕυὖυὗυὙΥὛΥὝΥὟΥὠωὡωὢωὣωὤωὥωὦωὧωὨΩὩΩὪΩὫΩὬΩὭΩὮΩὯΩὰαάαὲεέεὴη"
    "ήηὶιίιὸοόοὺυύυὼωώωᾀαᾁαᾂαᾃαᾄαᾅαᾆαᾇαᾈΑᾉΑᾊΑᾋΑᾌΑᾍΑᾎΑᾏΑᾐηᾑηᾒηᾓηᾔηᾕηᾖηᾗηᾘΗᾙΗᾚΗᾛΗᾜΗᾝΗᾞΗ"
    "ᾟΗᾠωᾡωᾢωᾣωᾤωᾥωᾦωᾧωᾨΩᾩΩᾪΩᾫΩᾬΩᾭΩᾮΩᾯΩᾰαᾱαᾲαᾳαᾴαᾶαᾷαᾸΑᾹΑᾺΑΆΑᾼΑιι῁¨ῂηῃηῄηῆηῇηῈΕΈΕῊΗΉΗ"
    "ῌΗ῍᾿῎᾿῏᾿ῐιῑιῒιΐιῖιῗιῘΙῙΙῚΙΊΙ῝῾῞῾῟῾ῠυῡυῢυΰυῤρῥρῦυῧυῨΥῩΥῪΥΎΥῬΡ῭¨΅¨``ῲωῳωῴωῶωῷωῸΟΌΟ"
    "ῺΩΏΩῼΩ´´ΩΩKKÅAがかぎきぐくげけごこざさじしずすぜせぞそだたぢちづつでてどとばはぱはびひぴひぶふぷふべへぺへぼほぽほゔうゞゝガカギキグクゲケゴコザサ"
    "ジシズスゼセゾソダタヂチヅツデテドトバハパハビヒピヒブフプフベヘペヘボホポホヴウヷワヸヰヹヱヺヲヾヽ";

struct Range {
  char32_t first, last;
};

std::vector<Range> parse_ranges(std::string_view text) {
  std::vector<Range> ranges;
  std::istringstream in{std::string(text)};
  for (std::string item; in >> item;) {
    const size_t dash = item.find('-');
    const auto first = static_cast<char32_t>(std::stoul(item.substr(0, dash), nullptr, 16));
    const auto last = dash == std::string::npos ? first : static_cast<char32_t>(std::stoul(item.substr(dash + 1), nullptr, 16));
    ranges.push_back({first, last});
  }
  return ranges;
}

bool in_ranges(const std::vector<Range>& ranges, char32_t c) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), c, [](char32_t v, const Range& r) { return v < r.first; });
  return it != ranges.begin() && c <= std::prev(it)->last;
}

struct CaseRun {
  char32_t first, last;
  uint32_t stride;
  int32_t delta;
};

struct UnicodeTables {
  std::vector<Range> punctuation = parse_ranges(kPunctuation), control = parse_ranges(kControl),
                     space = parse_ranges(kSpaceSeparator), mark = parse_ranges(kNonspacingMark);
  std::vector<CaseRun> lower;
  std::unordered_set<char32_t> lowercase_letters;  // targets of kLowercase, for the final-sigma rule
  std::vector<std::pair<char32_t, char32_t>> accent_base;

  UnicodeTables();
};

const UnicodeTables& tables() {
  static const UnicodeTables instance;
  return instance;
}

// Decodes UTF-8; a byte that does not start a valid sequence becomes U+FFFD.
std::u32string utf8_to_code_points(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int length = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    char32_t c = length == 1 ? b : length == 2 ? (b & 0x1F) : length == 3 ? (b & 0x0F) : (b & 0x07);
    bool valid = length > 0 && i + length <= s.size();
    for (int k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      valid = (next >> 6) == 2;
      c = (c << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    static constexpr char32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    valid = valid && c >= kMinimum[length] && c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF);
    out.push_back(valid ? c : U'\uFFFD');
    i += valid ? length : 1;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

UnicodeTables::UnicodeTables() {
  std::istringstream in{std::string(kLowercase)};
  for (std::string item; in >> item;) {
    const size_t dash = item.find('-'), slash = item.find('/'), colon = item.find(':');
    const size_t range_end = std::min(slash, colon);
    CaseRun run{};
    run.first = static_cast<char32_t>(std::stoul(item.substr(0, std::min(dash, range_end)), nullptr, 16));
    run.last = dash < range_end ? static_cast<char32_t>(std::stoul(item.substr(dash + 1, range_end - dash - 1), nullptr, 16))
                                : run.first;
    run.stride = slash < colon ? static_cast<uint32_t>(std::stoul(item.substr(slash + 1, colon - slash - 1))) : 1;
    run.delta = static_cast<int32_t>(std::stol(item.substr(colon + 1), nullptr, 16));
    lower.push_back(run);
    for (char32_t c = run.first; c <= run.last; c += run.stride) lowercase_letters.insert(c + run.delta);
  }
  const std::u32string pairs = utf8_to_code_points(kAccentBase);
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) accent_base.emplace_back(pairs[i], pairs[i + 1]);
}

bool is_whitespace(char32_t c) {
  // U+2028/2029 are not Zs, but Python's str.split(), which BERT uses, splits on them.
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029 ||
         in_ranges(tables().space, c);
}

bool is_control(char32_t c) { return in_ranges(tables().control, c); }
bool is_punctuation(char32_t c) { return in_ranges(tables().punctuation, c); }

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

char32_t simple_lower(char32_t c) {
  const auto& runs = tables().lower;
  auto it = std::upper_bound(runs.begin(), runs.end(), c, [](char32_t v, const CaseRun& r) { return v < r.first; });
  if (it == runs.begin()) return c;
  const CaseRun& run = *std::prev(it);
  if (c > run.last || (c - run.first) % run.stride != 0) return c;
  return static_cast<char32_t>(static_cast<int32_t>(c) + run.delta);
}

bool is_cased(char32_t c) { return simple_lower(c) != c || tables().lowercase_letters.contains(c); }

// Python's str.lower(): simple mappings, plus the two context or length
// dependent rules it applies — İ becomes "i̇", and Σ at the end of a word
// becomes ς (approximated: after a cased letter, not before one).
std::u32string lowercase(std::u32string_view word) {
  std::u32string out;
  for (size_t i = 0; i < word.size(); ++i) {
    const char32_t c = word[i];
    if (c == 0x130) {
      out += U"i\u0307";
    } else if (c == 0x3A3) {
      const bool at_end = i > 0 && is_cased(word[i - 1]) && (i + 1 == word.size() || !is_cased(word[i + 1]));
      out += at_end ? U'\u03C2' : U'\u03C3';
    } else {
      out += simple_lower(c);
    }
  }
  return out;
}

// NFD, then drop nonspacing marks (BERT's _run_strip_accents), within the coverage of kAccentBase.
std::u32string strip_accents(std::u32string_view word) {
  const auto& base = tables().accent_base;
  std::u32string out;
  for (char32_t c : word) {
    if (c >= 0xAC00 && c <= 0xD7A3) {  // Hangul syllable → leading, vowel and optional trailing jamo
      const char32_t s = c - 0xAC00;
      out += static_cast<char32_t>(0x1100 + s / 588);
      out += static_cast<char32_t>(0x1161 + (s % 588) / 28);
      if (s % 28 != 0) out += static_cast<char32_t>(0x11A7 + s % 28);
      continue;
    }
    if (in_ranges(tables().mark, c)) continue;
    auto it = std::lower_bound(base.begin(), base.end(), c, [](const auto& p, char32_t v) { return p.first < v; });
    out += it != base.end() && it->first == c ? it->second : c;
  }
  return out;
}

std::vector<std::string> basic_tokenize(std::string_view text, const WordPieceOptions& options) {
  // Clean and isolate CJK ideographs: the result is words separated by single spaces.
  std::u32string spaced;
  for (char32_t c : utf8_to_code_points(text)) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      spaced += U' ';
    } else if (options.split_cjk && is_cjk(c)) {
      spaced += U' ';
      spaced += c;
      spaced += U' ';
    } else {
      spaced += c;
    }
  }
  const bool strip = options.strip_accents.value_or(options.lowercase);
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < spaced.size()) {
    const size_t end = std::min(spaced.find(U' ', start), spaced.size());
    std::u32string word = spaced.substr(start, end - start);
    start = end + 1;
    if (options.lowercase) word = lowercase(word);
    if (strip) word = strip_accents(word);
    // Every punctuation character is a token of its own.
    size_t piece = 0;
    for (size_t i = 0; i <= word.size(); ++i) {
      if (i < word.size() && !is_punctuation(word[i])) continue;
      if (i > piece) tokens.push_back(to_utf8(std::u32string_view(word).substr(piece, i - piece)));
      if (i < word.size()) tokens.push_back(to_utf8(std::u32string_view(word).substr(i, 1)));
      piece = i + 1;
    }
  }
  return tokens;
}

// Byte offsets of the code points of a UTF-8 string, plus its length.
std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) offsets.push_back(i);
  offsets.push_back(s.size());
  return offsets;
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options, std::string origin)
    : vocab_(std::move(vocab)), options_(options) {
  KILN_CHECK(options_.max_chars_per_word > 0, "wordpiece: max_chars_per_word must be positive, got {}",
             options_.max_chars_per_word);
  for (size_t i = 0; i < vocab_.size(); ++i) {
    KILN_CHECK(!vocab_[i].empty(), "{}: token {} is empty", origin, i);
    auto [it, inserted] = ids_.emplace(vocab_[i], static_cast<int32_t>(i));
    KILN_CHECK(inserted, "{}: token {} '{}' repeats token {}", origin, i, vocab_[i], it->second);
  }
  const auto required = [&](const char* name) {
    auto it = ids_.find(name);
    KILN_CHECK(it != ids_.end(), "{}: no {} token (BERT needs [CLS], [SEP], [MASK] and [UNK])", origin, name);
    return it->second;
  };
  cls_ = required("[CLS]");
  sep_ = required("[SEP]");
  mask_ = required("[MASK]");
  unk_ = required("[UNK]");
  pad_ = find("[PAD]");
}

WordPieceTokenizer WordPieceTokenizer::load(const std::filesystem::path& vocab_txt, WordPieceOptions options) {
  std::ifstream in(vocab_txt, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open", vocab_txt.string());
  std::vector<std::string> vocab;
  for (std::string line; std::getline(in, line);) {
    const std::string_view token = trim(line);
    // Skipping a blank line would shift every later id, so it is an error.
    KILN_CHECK(!token.empty(), "{}: line {} is empty", vocab_txt.string(), vocab.size() + 1);
    vocab.emplace_back(token);
  }
  return WordPieceTokenizer(std::move(vocab), options, vocab_txt.string());
}

void WordPieceTokenizer::save(const std::filesystem::path& vocab_txt) const { write_wordpiece_vocab(vocab_txt, vocab_); }

std::vector<std::string> WordPieceTokenizer::basic_tokens(std::string_view text) const {
  return basic_tokenize(text, options_);
}

std::vector<std::string> WordPieceTokenizer::word_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  std::istringstream words{std::string(text)};
  for (std::string word; words >> word;) {
    const std::vector<size_t> offsets = code_point_offsets(word);
    const size_t length = offsets.size() - 1;
    const size_t before = pieces.size();
    bool complete = length <= static_cast<size_t>(options_.max_chars_per_word);
    for (size_t start = 0; complete && start < length;) {
      size_t end = length;
      for (; end > start; --end) {
        std::string candidate = (start > 0 ? "##" : "") + word.substr(offsets[start], offsets[end] - offsets[start]);
        if (ids_.contains(candidate)) {
          pieces.push_back(std::move(candidate));
          break;
        }
      }
      complete = end > start;
      start = end;
    }
    if (!complete) {  // the whole word, not just its unmatched rest, is unknown
      pieces.resize(before);
      pieces.push_back(vocab_[unk_]);
    }
  }
  return pieces;
}

std::vector<std::string> WordPieceTokenizer::tokens(std::string_view text) const {
  std::vector<std::string> out;
  for (const std::string& word : basic_tokens(text))
    for (std::string& piece : word_pieces(word)) out.push_back(std::move(piece));
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (const std::string& piece : tokens(text)) ids.push_back(ids_.at(piece));
  return ids;
}

std::string WordPieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  for (int32_t id : ids) {
    const std::string& piece = token(id);
    if (piece.starts_with("##") && !text.empty()) {
      text += piece.substr(2);
    } else {
      if (!text.empty()) text += ' ';
      text += piece;
    }
  }
  return text;
}

std::optional<int32_t> WordPieceTokenizer::find(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& WordPieceTokenizer::token(int32_t id) const {
  KILN_CHECK(id >= 0 && id < vocab_size(), "wordpiece: id {} is outside the vocabulary of {}", id, vocab_size());
  return vocab_[id];
}

void write_wordpiece_vocab(const std::filesystem::path& vocab_txt, std::span<const std::string> vocab) {
  io::AtomicFile file(vocab_txt);
  for (const std::string& token : vocab) {
    // Such a token would read back as a different one (or shift the ids).
    KILN_CHECK(!token.empty() && trim(token) == token && token.find('\n') == std::string::npos,
               "{}: token '{}' cannot be written as one vocab.txt line", vocab_txt.string(), token);
    file.write(token.data(), token.size());
    file.write("\n", 1);
  }
  file.commit();
}

std::vector<std::string> build_wordpiece_vocab(std::span<const std::string> lines, int64_t vocab_size,
                                               const WordPieceVocabOptions& options) {
  KILN_CHECK(vocab_size > 0, "wordpiece vocab: vocab_size must be positive, got {}", vocab_size);
  std::unordered_map<std::string, int64_t> word_counts;
  for (const std::string& line : lines)
    for (std::string& word : basic_tokenize(line, options.tokenizer)) ++word_counts[std::move(word)];

  // Symbols are interned; a word is its current segmentation into symbol ids.
  std::vector<std::string> symbols;
  std::unordered_map<std::string, int32_t> symbol_ids;
  const auto intern = [&](std::string s) {
    auto [it, inserted] = symbol_ids.emplace(s, static_cast<int32_t>(symbols.size()));
    if (inserted) symbols.push_back(std::move(s));
    return it->second;
  };
  struct Word {
    std::string text;
    int64_t count;
    std::vector<int32_t> parts;
  };
  std::vector<Word> words;
  for (auto& [text, count] : word_counts) {
    const std::vector<size_t> offsets = code_point_offsets(text);
    if (count < options.min_word_count || offsets.size() - 1 > static_cast<size_t>(options.tokenizer.max_chars_per_word))
      continue;
    words.push_back({text, count, {}});
  }
  std::sort(words.begin(), words.end(), [](const Word& a, const Word& b) { return a.text < b.text; });
  for (Word& word : words) {
    const std::vector<size_t> offsets = code_point_offsets(word.text);
    for (size_t i = 0; i + 1 < offsets.size(); ++i)
      word.parts.push_back(intern((i > 0 ? "##" : "") + word.text.substr(offsets[i], offsets[i + 1] - offsets[i])));
  }

  std::vector<std::string> vocab;
  std::unordered_set<std::string> in_vocab;
  const auto add = [&](const std::string& token) {
    if (in_vocab.insert(token).second) vocab.push_back(token);
  };
  for (const std::string& special : options.special_tokens) add(special);
  std::vector<std::string> alphabet = symbols;
  std::sort(alphabet.begin(), alphabet.end());
  for (const std::string& symbol : alphabet) add(symbol);

  // Counts weighted by word frequency; `where` lists the words that held a
  // pair at some point (entries may be stale, and are checked on use).
  const auto key = [](int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); };
  std::vector<int64_t> symbol_count(symbols.size(), 0);
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;
  const auto account = [&](int32_t w, int64_t sign) {
    const Word& word = words[w];
    for (size_t i = 0; i < word.parts.size(); ++i) {
      if (static_cast<size_t>(word.parts[i]) >= symbol_count.size()) symbol_count.resize(word.parts[i] + 1, 0);
      symbol_count[word.parts[i]] += sign * word.count;
      if (i + 1 == word.parts.size()) continue;
      const uint64_t k = key(word.parts[i], word.parts[i + 1]);
      if ((pair_count[k] += sign * word.count) == 0) pair_count.erase(k);
      if (sign > 0) where[k].push_back(w);
    }
  };
  for (size_t w = 0; w < words.size(); ++w) account(static_cast<int32_t>(w), +1);

  std::vector<int32_t> last_merge_seen(words.size(), -1);
  for (int32_t merge = 0; static_cast<int64_t>(vocab.size()) < vocab_size && !pair_count.empty(); ++merge) {
    // Highest count(ab)/(count(a)·count(b)), compared exactly by cross-multiplying.
    uint64_t best = 0;
    int64_t best_count = 0;
    __int128 best_denominator = 1;
    std::string best_text;
    for (const auto& [k, count] : pair_count) {
      const int32_t a = static_cast<int32_t>(k >> 32), b = static_cast<int32_t>(k & 0xFFFFFFFFu);
      const __int128 denominator =
          options.score == MergeScore::frequency ? 1 : static_cast<__int128>(symbol_count[a]) * symbol_count[b];
      const __int128 lhs = static_cast<__int128>(count) * best_denominator, rhs = static_cast<__int128>(best_count) * denominator;
      if (best_count > 0 && lhs < rhs) continue;
      if (best_count > 0 && lhs == rhs && count < best_count) continue;
      std::string text = symbols[a] + symbols[b].substr(2);  // b is never word-initial, so it starts with ##
      if (best_count > 0 && lhs == rhs && count == best_count && text >= best_text) continue;
      best = k, best_count = count, best_denominator = denominator, best_text = std::move(text);
    }
    const int32_t a = static_cast<int32_t>(best >> 32), b = static_cast<int32_t>(best & 0xFFFFFFFFu);
    const int32_t merged = intern(best_text);
    add(best_text);  // a segmentation reached by another path may already be in the vocabulary
    std::vector<int32_t> holders = std::move(where[best]);
    where.erase(best);
    for (int32_t w : holders) {
      if (last_merge_seen[w] == merge) continue;
      last_merge_seen[w] = merge;
      account(w, -1);
      std::vector<int32_t>& parts = words[w].parts;
      std::vector<int32_t> next;
      for (size_t i = 0; i < parts.size(); ++i) {
        const bool pair_here = i + 1 < parts.size() && parts[i] == a && parts[i + 1] == b;
        next.push_back(pair_here ? merged : parts[i]);
        i += pair_here;
      }
      parts = std::move(next);
      account(w, +1);
    }
  }
  return vocab;
}

}  // namespace kiln::data
