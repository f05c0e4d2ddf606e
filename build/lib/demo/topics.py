"""Phrase tables of the demo catalogue: areas of Wuhan, subjects per department, column layouts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    """A part of Wuhan a dataset can cover: the whole city, a district or a functional zone."""

    zh: str
    en: str
    bbox: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat (CGCS2000)
    places: tuple[str, ...]  # street (街道) and town names, for facility names
    roads: tuple[str, ...]


@dataclass(frozen=True)
class Subject:
    """What a dataset is about: its title phrase, kind, theme, update cycle and row content."""

    zh: str
    en: str
    kind: str  # F facilities (can be spatial), L lists, R registers, S statistics, M monitoring
    theme: str  # our theme code, T01…T22
    cycle: str  # update-cycle local name
    keywords: tuple[str, ...]
    items: tuple[str, ...]  # name suffixes, register items or indicators ("name:unit")


def _area(zh: str, en: str, bbox: str, places: str, roads: str) -> Area:
    lo = tuple(float(v) for v in bbox.split())
    return Area(zh, en, lo, tuple(places.split()), tuple(roads.split()))  # type: ignore[arg-type]


CITY = _area("武汉市", "Wuhan", "113.68 29.97 115.08 31.36", "", "")
DISTRICTS: tuple[Area, ...] = (
    _area("江岸区", "Jiang'an District", "114.26 30.57 114.40 30.70",
          "大智 一元 车站 四唯 永清 西马 球场 劳动 二七 新村 丹水池 台北 花桥 谌家矶 后湖",
          "解放大道 中山大道 沿江大道 建设大道 黄浦大街 二七路"),
    _area("江汉区", "Jianghan District", "114.23 30.56 114.30 30.64",
          "民意 民族 花楼水塔 前进 民权 满春 水塔 北湖 唐家墩 新华 万松 汉兴 常青",
          "解放大道 建设大道 新华路 江汉路 发展大道 常青路"),
    _area("硚口区", "Qiaokou District", "114.15 30.56 114.28 30.63",
          "古田 韩家墩 宗关 汉水桥 宝丰 荣华 易家 六角亭 汉正 长丰",
          "解放大道 中山大道 京汉大道 古田二路 汉正街 长丰大道"),
    _area("汉阳区", "Hanyang District", "114.12 30.45 114.30 30.60",
          "建桥 鹦鹉 洲头 五里墩 琴断口 江汉二桥 永丰 四新 江堤",
          "汉阳大道 鹦鹉大道 龙阳大道 墨水湖北路 江城大道 四新大道"),
    _area("武昌区", "Wuchang District", "114.26 30.46 114.42 30.63",
          "积玉桥 杨园 徐家棚 粮道 中华路 黄鹤楼 紫阳 白沙洲 首义路 中南路 水果湖 珞珈山 石洞 南湖",
          "武珞路 中北路 中山路 和平大道 友谊大道 徐东大街"),
    _area("青山区", "Qingshan District", "114.34 30.57 114.56 30.68",
          "红卫路 冶金 新沟桥 红钢城 工人村 青山镇 厂前 钢花村 白玉山 武东",
          "和平大道 友谊大道 建设一路 冶金大道 工业路"),
    _area("洪山区", "Hongshan District", "114.17 30.38 114.64 30.69",
          "珞南 关山 狮子山 张家湾 梨园 卓刀泉 洪山 和平 青菱 九峰 花山 左岭",
          "珞喻路 雄楚大道 关山大道 民族大道 白沙洲大道 青化路"),
    _area("东西湖区", "Dongxihu District", "113.89 30.58 114.29 30.79",
          "吴家山 将军路 慈惠 走马岭 径河 长青 辛安渡 东山 柏泉 金银湖",
          "金银湖路 东吴大道 吴家山街 临空港大道 金山大道"),
    _area("汉南区", "Hannan District", "113.76 30.18 114.12 30.37",
          "纱帽 邓南 东荆 湘口", "汉南大道 纱帽街 通航大道 兴城大道"),
    _area("蔡甸区", "Caidian District", "113.70 30.25 114.23 30.68",
          "蔡甸 奓山 永安 侏儒山 大集 张湾 索河 玉贤 消泗",
          "蔡甸大街 知音湖大道 中法大道 后官湖大道"),
    _area("江夏区", "Jiangxia District", "114.04 29.97 114.60 30.53",
          "纸坊 金口 乌龙泉 郑店 五里界 金水 安山 山坡 法泗 湖泗 舒安 庙山 藏龙岛",
          "文化大道 纸坊大街 江夏大道 藏龙大道 庙山大道"),
    _area("黄陂区", "Huangpi District", "114.16 30.67 114.62 31.36",
          "前川 祁家湾 横店 罗汉寺 滠口 六指 天河 王家河 长轩岭 李家集 姚家集 蔡榨 武湖 盘龙城",
          "百秀街 川龙大道 盘龙大道 天河大道 木兰大道"),
    _area("新洲区", "Xinzhou District", "114.47 30.56 115.08 31.04",
          "邾城 阳逻 仓埠 汪集 李集 三店 潘塘 旧街 双柳 涨渡湖 辛冲 徐古",
          "邾城街 齐安大道 阳逻大道 新洲大道"),
)
ZONES: dict[str, Area] = {
    "D073": _area("东湖高新区", "East Lake High-tech Zone", "114.35 30.38 114.65 30.55",
                  "关东 佛祖岭 豹澥 九峰 花山 左岭 龙泉 滨湖", "光谷大道 高新大道 关山大道 珞喻路 光谷一路"),
    "D074": _area("武汉经开区", "Wuhan Economic and Technological Development Zone", "113.85 30.25 114.25 30.55",
                  "沌口 军山 沌阳 纱帽 湘口 东荆", "东风大道 沌阳大道 车城大道 江城大道 神龙大道"),
    "D075": _area("东湖风景区", "East Lake Scenic Area", "114.36 30.53 114.46 30.60",
                  "东湖 磨山 听涛 落雁 吹笛", "东湖路 沿湖大道 鲁磨路 环湖路"),
    "D076": _area("长江新区", "Yangtze River New Area", "114.33 30.65 114.62 30.90",
                  "谌家矶 武湖 阳逻 双柳 后湖", "谌家矶大道 汉施公路 后湖大道"),
}
DISTRICT_GOVERNMENTS = {f"D{60 + i:03d}": area for i, area in enumerate(DISTRICTS)}

# Subjects: zh | en | kind | theme | cycle | keywords | items.  Grouped in families that departments draw on.
FAMILIES: dict[str, str] = {
    "data": """公共数据开放目录|Open Data Catalogue|L|T22|monthly|数据,开放|数据集,数据接口
政务数据资源目录|Government Data Resource Catalogue|L|T22|quarterly|数据,目录|数据资源
政务服务事项目录|Government Service Items|L|T22|irregular|政务,服务|行政许可,公共服务,行政确认
电子证照目录|Electronic Licence Catalogue|L|T22|irregular|证照,政务|电子证照
政务服务中心信息|Government Service Centres|F|T22|irregular|政务,服务|政务服务中心,便民服务中心
公共数据开放利用统计|Open Data Use Statistics|S|T22|monthly|数据,统计|数据集下载量:次,接口调用量:次""",
    "office": """政府规章目录|Municipal Government Regulations|L|T22|irregular|规章,政务|政府规章
行政规范性文件目录|Administrative Normative Documents|L|T22|irregular|文件,政务|规范性文件
政府信息公开工作年度报告数据|Government Information Disclosure Annual Report Data|S|T22|yearly|公开,政务|主动公开:条,依申请公开:件
市民热线诉求统计|Citizen Hotline Requests Statistics|S|T19|monthly|热线,民生|诉求:件,办结:件""",
    "development": """重大项目清单|Major Projects|R|T12|yearly|项目,投资|市级重大项目,产业项目,基础设施项目
企业投资项目备案信息|Enterprise Investment Project Filings|R|T12|monthly|项目,备案|项目备案
主要农副产品价格监测|Prices of Main Agricultural Products|M|T14|weekly|价格,物价|猪肉:元/公斤,鸡蛋:元/公斤,大米:元/公斤
政府定价目录|Government Pricing Catalogue|L|T14|irregular|价格,收费|定价项目
充电基础设施建设统计|Charging Infrastructure Statistics|S|T09|quarterly|能源,充电|充电桩:个""",
    "economy": """规模以上工业企业名录|Industrial Enterprises above Designated Size|R|T12|yearly|工业,企业|制造业,电子信息,汽车
专精特新中小企业名单|Specialised and Innovative SMEs|R|T12|yearly|企业,创新|专精特新
工业园区信息|Industrial Parks|F|T12|irregular|工业,园区|工业园,产业园
5G基站建设统计|5G Base Station Statistics|S|T08|quarterly|通信,基站|5G基站:个""",
    "science": """高新技术企业名单|High-tech Enterprises|R|T08|yearly|科技,企业|高新技术企业
科技企业孵化器名录|Technology Business Incubators|F|T08|irregular|科技,孵化|孵化器,众创空间
重点实验室名录|Key Laboratories|L|T08|irregular|科技,实验室|重点实验室
技术合同登记统计|Technology Contract Registration Statistics|S|T08|yearly|科技,合同|技术合同:项,成交额:亿元""",
    "education": """中小学校名录|Primary and Secondary Schools|F|T07|yearly|教育,学校|小学,初级中学,高级中学
幼儿园名录|Kindergartens|F|T07|yearly|教育,学前|幼儿园
普通高中招生计划|Senior High School Enrolment Plans|S|T07|yearly|教育,招生|招生计划:人
义务教育阶段学生数统计|Compulsory Education Enrolment Statistics|S|T07|yearly|教育,学生|在校生:人,毕业生:人
校外培训机构白名单|Approved Off-campus Training Institutions|R|T07|quarterly|教育,培训|校外培训
中等职业学校名录|Secondary Vocational Schools|F|T07|yearly|教育,职业|职业学校,技工学校""",
    "police": """派出所信息|Police Stations|F|T04|irregular|公安,治安|派出所
户籍人口统计|Registered Population Statistics|S|T04|yearly|人口,户籍|户籍人口:万人,出生登记:人
出入境办证网点信息|Exit and Entry Service Points|F|T04|irregular|出入境,证件|出入境办证点
户政业务办理网点|Household Registration Service Points|F|T04|irregular|户籍,证件|户政窗口""",
    "traffic": """交通违法处理点信息|Traffic Violation Processing Points|F|T06|irregular|交通,违法|违法处理点
机动车保有量统计|Motor Vehicle Ownership Statistics|S|T06|monthly|交通,车辆|机动车:万辆,新能源汽车:万辆
机动车驾驶人考场信息|Driving Test Centres|F|T06|irregular|交通,驾考|驾驶人考场
道路交通事故统计|Road Traffic Accident Statistics|S|T04|monthly|交通,事故|事故:起""",
    "civil": """养老机构名录|Elderly Care Institutions|F|T17|quarterly|养老,民政|养老院,社会福利院,护理院
社区养老服务设施信息|Community Elderly Care Facilities|F|T17|quarterly|养老,社区|社区养老服务中心,老年食堂
婚姻登记处信息|Marriage Registration Offices|F|T19|irregular|婚姻,民政|婚姻登记处
社会组织登记信息|Registered Social Organisations|R|T22|monthly|社会组织,登记|社会团体,民办非企业单位,基金会
最低生活保障统计|Minimum Living Allowance Statistics|S|T17|quarterly|低保,救助|低保对象:人,低保金:万元
社区居委会信息|Community Residents' Committees|F|T22|yearly|社区,基层|社区居委会,村委会""",
    "justice": """律师事务所名录|Law Firms|F|T18|quarterly|律师,法律|律师事务所
公证机构名录|Notary Offices|F|T18|irregular|公证,法律|公证处
司法鉴定机构名录|Judicial Expertise Institutions|F|T18|irregular|鉴定,法律|司法鉴定所
法律援助工作站信息|Legal Aid Stations|F|T18|irregular|法律,援助|法律援助工作站
人民调解委员会名录|People's Mediation Committees|L|T18|yearly|调解,法律|人民调解委员会""",
    "finance": """一般公共预算收支情况|General Public Budget Revenue and Expenditure|S|T13|yearly|财政,预算|一般公共预算收入:亿元,一般公共预算支出:亿元
政府采购合同信息|Government Procurement Contracts|R|T13|monthly|采购,财政|货物采购,服务采购,工程采购
行政事业性收费目录|Administrative Fees Catalogue|L|T13|irregular|收费,财政|收费项目
政府债务限额与余额|Government Debt Limits and Balances|S|T13|yearly|财政,债务|债务余额:亿元""",
    "labour": """人力资源服务机构名录|Human Resources Service Agencies|F|T03|quarterly|就业,人才|人力资源服务机构
职业技能培训机构名录|Vocational Skills Training Institutions|F|T03|quarterly|培训,就业|职业培训学校
社会保险参保统计|Social Insurance Coverage Statistics|S|T03|quarterly|社保,参保|养老保险参保:万人,失业保险参保:万人
城镇新增就业统计|New Urban Employment Statistics|S|T03|monthly|就业,统计|城镇新增就业:人
社保经办服务网点|Social Insurance Service Points|F|T03|irregular|社保,服务|社保服务网点
招聘会信息|Job Fairs|R|T03|weekly|招聘,就业|专场招聘会,综合招聘会""",
    "landplan": """国有建设用地供应信息|State-owned Construction Land Supply|R|T05|monthly|土地,供应|出让,划拨
建设工程规划许可信息|Construction Project Planning Permits|R|T05|monthly|规划,许可|建设工程规划许可证
建筑工程施工许可信息|Building Construction Permits|R|T05|monthly|建设,施工|施工许可证
地质灾害隐患点信息|Geological Hazard Sites|F|T21|yearly|地质,灾害|滑坡隐患点,崩塌隐患点,地面塌陷隐患点
建筑业企业资质名录|Construction Enterprise Qualifications|R|T05|quarterly|建筑,资质|施工总承包,专业承包
土地利用现状统计|Land Use Statistics|S|T09|yearly|土地,利用|耕地:公顷,建设用地:公顷""",
    "environment": """空气质量日报|Daily Air Quality Report|M|T10|daily|空气,环境|AQI:,PM2.5:μg/m³,PM10:μg/m³
空气质量自动监测站点信息|Air Quality Monitoring Stations|F|T10|irregular|空气,监测|国控监测站,市控监测站
地表水水质监测数据|Surface Water Quality Monitoring|M|T10|monthly|水质,环境|溶解氧:mg/L,氨氮:mg/L,总磷:mg/L
重点排污单位名录|Key Pollutant Discharge Units|F|T10|yearly|排污,环境|水环境重点排污单位,大气环境重点排污单位
建设项目环评审批信息|Environmental Impact Assessment Approvals|R|T10|monthly|环评,审批|环评批复
声环境质量监测数据|Acoustic Environment Monitoring|M|T10|quarterly|噪声,环境|昼间等效声级:dB(A),夜间等效声级:dB(A)""",
    "housing": """保障性住房项目信息|Affordable Housing Projects|F|T05|quarterly|住房,保障|公租房,保障性租赁住房
商品房预售许可信息|Pre-sale Permits of Commercial Housing|R|T05|weekly|住房,预售|商品房预售许可证
物业服务企业名录|Property Management Companies|R|T05|quarterly|物业,住房|物业服务
老旧小区改造项目信息|Old Residential Area Renovation Projects|F|T05|yearly|小区,改造|老旧小区
住房租赁企业名录|Housing Rental Companies|R|T05|quarterly|租赁,住房|住房租赁""",
    "urban": """公共厕所信息|Public Toilets|F|T19|quarterly|公厕,城管|公共厕所
垃圾转运站信息|Waste Transfer Stations|F|T10|yearly|垃圾,环卫|垃圾转运站
生活垃圾分类收集点|Household Waste Sorting Points|F|T10|quarterly|垃圾,分类|分类收集点
户外广告设置许可信息|Outdoor Advertising Permits|R|T05|monthly|广告,城管|户外广告设置
城市道路照明设施统计|Street Lighting Statistics|S|T05|yearly|照明,城管|路灯:盏""",
    "transport": """公交站点信息|Bus Stops|F|T06|monthly|公交,交通|公交站
公共停车场信息|Public Car Parks|F|T06|monthly|停车,交通|公共停车场
道路运输经营许可信息|Road Transport Operating Permits|R|T06|monthly|运输,许可|道路货物运输,道路旅客运输
客运站信息|Coach Stations|F|T06|irregular|客运,交通|长途汽车客运站
港口码头信息|Ports and Wharves|F|T06|yearly|港口,航运|码头,港区
新能源汽车充电站信息|EV Charging Stations|F|T09|monthly|充电,能源|充电站
公路里程统计|Highway Mileage Statistics|S|T06|yearly|公路,交通|公路里程:公里
出租汽车企业名录|Taxi Companies|R|T06|quarterly|出租车,交通|出租汽车客运""",
    "water": """湖泊信息|Lakes|F|T10|yearly|湖泊,水务|湖泊
排水泵站信息|Drainage Pumping Stations|F|T05|yearly|排水,水务|排水泵站
渍水点信息|Waterlogging Points|F|T04|yearly|渍水,防汛|渍水点
江河水位监测数据|River Water Level Monitoring|M|T10|daily|水位,防汛|水位:米
取水许可信息|Water Abstraction Permits|R|T09|quarterly|取水,水务|取水许可证""",
    "agri": """农民专业合作社名录|Farmers' Cooperatives|R|T11|quarterly|农业,合作社|种植专业合作社,养殖专业合作社
家庭农场名录|Family Farms|R|T11|yearly|农业,农场|家庭农场
农产品批发市场信息|Agricultural Wholesale Markets|F|T11|irregular|农产品,市场|农产品批发市场
农作物播种面积统计|Crop Sown Area Statistics|S|T11|yearly|农业,种植|粮食作物:公顷,蔬菜:公顷
休闲农业园区信息|Leisure Agriculture Parks|F|T11|yearly|农业,休闲|休闲农庄,采摘园
农机购置补贴信息|Farm Machinery Purchase Subsidies|R|T11|quarterly|农机,补贴|农机补贴""",
    "commerce": """大型商场超市信息|Shopping Malls and Supermarkets|F|T14|quarterly|商贸,购物|商场,超市
社会消费品零售总额统计|Retail Sales of Consumer Goods|S|T14|monthly|消费,商贸|社会消费品零售总额:亿元
外商投资企业名录|Foreign-invested Enterprises|R|T14|quarterly|外资,企业|外商投资
老字号企业名录|Time-honoured Brands|F|T14|irregular|老字号,商贸|中华老字号,湖北老字号
加油站信息|Petrol Stations|F|T09|quarterly|加油站,能源|加油站
进出口贸易统计|Import and Export Statistics|S|T14|monthly|外贸,进出口|进出口总额:亿元""",
    "culture": """A级旅游景区信息|A-grade Tourist Attractions|F|T07|quarterly|旅游,景区|5A景区,4A景区,3A景区
星级饭店名录|Star-rated Hotels|F|T19|quarterly|旅游,酒店|星级饭店
旅行社名录|Travel Agencies|R|T19|quarterly|旅游,旅行社|旅行社
文物保护单位信息|Protected Cultural Relics Sites|F|T07|irregular|文物,文化|文物保护单位
非物质文化遗产名录|Intangible Cultural Heritage|L|T07|irregular|非遗,文化|传统技艺,传统戏剧,民俗
公共文化场馆信息|Public Cultural Venues|F|T07|quarterly|文化,场馆|文化馆,图书馆,博物馆
接待游客统计|Tourist Arrivals Statistics|S|T19|monthly|旅游,游客|接待游客:万人次,旅游收入:亿元""",
    "health": """医疗机构名录|Medical Institutions|F|T02|quarterly|医疗,医院|医院,社区卫生服务中心,诊所
社区卫生服务中心信息|Community Health Service Centres|F|T02|quarterly|医疗,社区|社区卫生服务中心
预防接种门诊信息|Vaccination Clinics|F|T02|quarterly|疫苗,接种|预防接种门诊
医疗机构床位数统计|Hospital Beds Statistics|S|T02|yearly|医疗,床位|床位:张,执业医师:人
卫生监督行政处罚信息|Health Supervision Penalties|R|T01|monthly|卫生,处罚|卫生行政处罚
出生人口统计|Birth Statistics|S|T02|quarterly|人口,出生|出生人口:人""",
    "medins": """医保定点医疗机构名录|Medical Insurance Designated Medical Institutions|F|T02|quarterly|医保,医疗|定点医院
医保定点零售药店名录|Medical Insurance Designated Pharmacies|F|T02|quarterly|医保,药店|定点药店
基本医疗保险参保统计|Basic Medical Insurance Coverage Statistics|S|T03|quarterly|医保,参保|参保:万人""",
    "emergency": """应急避难场所信息|Emergency Shelters|F|T04|yearly|应急,避难|应急避难场所
危险化学品经营许可信息|Hazardous Chemicals Business Permits|R|T16|monthly|危化品,安全|危险化学品经营许可证
安全生产行政处罚信息|Work Safety Penalties|R|T16|monthly|安全,处罚|安全生产行政处罚
应急物资储备库信息|Emergency Supply Depots|F|T04|yearly|应急,物资|应急物资储备库
生产安全事故统计|Work Accident Statistics|S|T16|quarterly|安全,事故|事故:起,死亡:人""",
    "market": """食品经营许可信息|Food Business Licences|R|T15|weekly|食品,许可|食品销售,餐饮服务
市场主体登记信息|Registered Market Entities|R|T15|weekly|企业,登记|有限责任公司,个体工商户
药品零售企业名录|Retail Pharmacies|F|T02|quarterly|药品,药店|药店,大药房
特种设备使用登记信息|Special Equipment Registrations|R|T16|monthly|特种设备,安全|电梯,锅炉,压力容器
农贸市场信息|Farmers' Markets|F|T14|quarterly|市场,菜场|农贸市场
市场监管行政处罚信息|Market Regulation Penalties|R|T01|monthly|处罚,信用|行政处罚""",
    "sports": """体育场馆信息|Sports Venues|F|T07|quarterly|体育,场馆|体育馆,体育场,游泳馆
全民健身路径信息|Fitness Trails|F|T07|yearly|健身,体育|健身路径
体育赛事活动信息|Sports Events|R|T07|monthly|体育,赛事|马拉松,篮球赛,羽毛球赛""",
    "statistics": """国民经济主要指标|Main Economic Indicators|S|T12|monthly|经济,统计|地区生产总值:亿元,规模以上工业增加值:亿元
常住人口统计|Resident Population Statistics|S|T12|yearly|人口,统计|常住人口:万人,城镇化率:%
居民消费价格指数|Consumer Price Index|S|T12|monthly|物价,统计|居民消费价格指数:
固定资产投资统计|Fixed Asset Investment Statistics|S|T12|monthly|投资,统计|固定资产投资:亿元""",
    "garden": """公园信息|Parks|F|T10|yearly|公园,绿化|综合公园,社区公园,湿地公园
古树名木信息|Ancient and Notable Trees|F|T10|yearly|古树,绿化|古树,名木
绿道信息|Greenways|F|T19|yearly|绿道,休闲|绿道驿站
城市绿地统计|Urban Green Space Statistics|S|T10|yearly|绿地,绿化|公园绿地:公顷,绿化覆盖率:%""",
    "civildef": """人防工程信息|Civil Air Defence Works|F|T04|yearly|人防,应急|人防工程
防空警报器点位信息|Air Raid Siren Locations|F|T04|yearly|人防,警报|防空警报器""",
    "religion": """宗教活动场所信息|Places of Religious Activity|F|T22|irregular|宗教,民族|寺院,宫观,教堂
少数民族人口统计|Ethnic Minority Population Statistics|S|T22|yearly|民族,人口|少数民族人口:人""",
    "audit": """审计结果公告|Audit Result Announcements|L|T22|irregular|审计,财政|审计公告
审计整改情况统计|Audit Rectification Statistics|S|T13|yearly|审计,整改|整改问题:个""",
    "foreign": """友好城市名录|Sister Cities|L|T22|irregular|外事,友城|友好城市,友好交流城市
外国驻汉领事机构名录|Foreign Consulates in Wuhan|L|T22|irregular|外事,领事|总领事馆
国际友好交流活动统计|International Exchange Statistics|S|T22|yearly|外事,交流|交流活动:场""",
    "soe": """市属国有企业名录|Municipal State-owned Enterprises|R|T22|yearly|国企,企业|市属国有企业
国有资产经营情况统计|State-owned Assets Operation Statistics|S|T12|quarterly|国资,经营|营业收入:亿元,利润总额:亿元""",
    "offices": """公共机构能源消耗统计|Public Institution Energy Use|S|T09|yearly|能源,节能|能耗:吨标准煤
公务用车统计|Official Vehicle Statistics|S|T22|yearly|公务,车辆|公务用车:辆""",
    "report": """政府工作报告主要指标|Government Work Report Indicators|S|T12|yearly|经济,目标|地区生产总值增速:%""",
    "veterans": """退役军人服务站信息|Veterans Service Stations|F|T17|yearly|退役,服务|退役军人服务站
优抚对象统计|Entitled Groups Statistics|S|T17|yearly|优抚,退役|优抚对象:人""",
    "trading": """工程建设项目招标公告|Construction Project Tender Notices|R|T14|daily|招标,工程|施工招标,监理招标
中标结果公示|Bid Award Notices|R|T14|daily|中标,交易|中标结果
土地使用权出让结果|Land Use Right Transfer Results|R|T09|monthly|土地,出让|挂牌出让""",
    "fund": """住房公积金缴存统计|Housing Provident Fund Contribution Statistics|S|T13|monthly|公积金,住房|缴存额:亿元,缴存人数:万人
公积金业务网点|Housing Provident Fund Service Points|F|T13|irregular|公积金,网点|公积金服务网点
公积金贷款合作楼盘|Provident Fund Loan Partner Estates|R|T05|monthly|公积金,贷款|合作楼盘""",
    "chronicle": """武汉年鉴数据|Wuhan Yearbook Data|S|T22|yearly|年鉴,地方志|年鉴条目:条
地方志书目录|Local Chronicles Catalogue|L|T07|irregular|地方志,文化|志书,年鉴""",
    "archives": """开放档案目录|Open Archives Catalogue|L|T07|yearly|档案,开放|档案
档案利用统计|Archive Use Statistics|S|T07|yearly|档案,利用|查档:人次""",
    "library": """馆藏资源统计|Collection Statistics|S|T07|yearly|馆藏,文化|馆藏:册,借阅:人次
讲座活动信息|Lectures and Reading Events|R|T07|monthly|阅读,讲座|讲座,阅读推广
图书馆分馆信息|Library Branches|F|T07|yearly|图书馆,阅读|分馆,服务点""",
    "museum": """馆藏文物目录|Museum Collection Catalogue|L|T07|irregular|文物,博物馆|文物,艺术品
展览活动信息|Exhibitions|R|T07|monthly|展览,文化|常设展览,临时展览
参观人数统计|Visitor Statistics|S|T07|monthly|参观,文化|参观:人次""",
    "geo": """控制性详细规划信息|Regulatory Detailed Plans|L|T21|irregular|规划,地理|控规单元
基础测绘成果目录|Basic Surveying Products|L|T21|yearly|测绘,地理|地形图,影像图
地名信息|Place Names|F|T21|yearly|地名,地理|道路,桥梁,地片
测量标志点信息|Survey Markers|F|T21|yearly|测绘,标志|测量标志
土地储备项目信息|Land Reserve Projects|F|T09|quarterly|土地,储备|储备地块""",
    "cdc": """法定传染病疫情统计|Notifiable Infectious Disease Statistics|S|T02|monthly|疾控,疫情|发病数:例
狂犬病暴露处置门诊信息|Rabies Exposure Clinics|F|T02|yearly|疾控,狂犬病|狂犬病暴露处置门诊""",
    "ambulance": """急救站点信息|Ambulance Stations|F|T02|yearly|急救,医疗|急救站
自动体外除颤器点位信息|AED Locations|F|T02|quarterly|急救,除颤器|AED
院前急救统计|Pre-hospital Emergency Statistics|S|T02|monthly|急救,出车|出车:次""",
    "blood": """献血点信息|Blood Donation Points|F|T02|quarterly|献血,医疗|献血屋,献血车
无偿献血统计|Blood Donation Statistics|S|T02|monthly|献血,统计|献血:人次""",
    "animal": """动物诊疗机构名录|Animal Clinics|F|T11|quarterly|动物,诊疗|动物医院,动物诊所
动物防疫条件合格证信息|Animal Epidemic Prevention Certificates|R|T11|quarterly|动物,防疫|动物防疫条件合格证""",
    "edu_research": """基础教育质量监测统计|Basic Education Quality Monitoring|S|T07|yearly|教育,质量|监测学校:所
教研活动信息|Teaching Research Events|R|T07|monthly|教育,教研|教研活动""",
    "traffic_research": """交通运行指数|Traffic Performance Index|M|T06|daily|交通,拥堵|交通指数:
道路交通流量监测|Road Traffic Flow Monitoring|M|T06|daily|交通,流量|车流量:辆""",
    "garden_research": """园林植物名录|Landscape Plant Species|L|T10|irregular|植物,园林|乔木,灌木,草本""",
    "talent": """人才公寓信息|Talent Apartments|F|T03|quarterly|人才,住房|人才公寓
人才招聘信息|Talent Recruitment|R|T03|weekly|人才,招聘|招聘岗位""",
    "welfare": """社会福利院服务对象统计|Welfare Institute Residents Statistics|S|T17|quarterly|福利,养老|服务对象:人""",
    "relief": """救助管理站信息|Relief Stations|F|T17|irregular|救助,民政|救助管理站
流浪乞讨人员救助统计|Relief for Homeless People Statistics|S|T17|monthly|救助,民政|救助:人次""",
    "agri_research": """农业科技成果信息|Agricultural Research Results|L|T08|yearly|农业,科技|新品种,新技术
农作物品种试验统计|Crop Variety Trial Statistics|S|T11|yearly|农业,品种|试验品种:个""",
    "district": """街道办事处信息|Sub-district Offices|F|T22|irregular|街道,政务|街道办事处
党群服务中心信息|Community Service Centres|F|T22|irregular|社区,服务|党群服务中心
区级财政预算|District Budget|S|T13|yearly|财政,预算|预算收入:亿元,预算支出:亿元
区国民经济和社会发展统计|District Economic and Social Statistics|S|T12|yearly|经济,统计|地区生产总值:亿元
便民服务网点信息|Convenience Service Points|F|T19|irregular|便民,服务|便民服务站
区级行政许可信息|District Administrative Licences|R|T01|weekly|许可,信用|行政许可""",
    "weather": """气象观测站点信息|Weather Stations|F|T20|yearly|气象,站点|国家气象站,区域自动站
逐日气象观测数据|Daily Weather Observations|M|T20|daily|气象,观测|气温:℃,降水量:mm
气象灾害预警信号|Weather Warning Signals|R|T20|realtime|气象,预警|暴雨预警,高温预警,大风预警""",
    "tax": """办税服务厅信息|Tax Service Halls|F|T13|irregular|税务,办税|办税服务厅
纳税信用A级纳税人名单|Grade-A Credit Taxpayers|R|T01|yearly|纳税,信用|A级纳税人
税收收入统计|Tax Revenue Statistics|S|T13|monthly|税收,财政|税收收入:亿元""",
    "customs": """海关进出口商品统计|Customs Import and Export Statistics|S|T14|monthly|海关,外贸|进口:亿元,出口:亿元
海关企业信用等级|Customs Enterprise Credit Ratings|R|T01|quarterly|海关,信用|高级认证企业""",
    "post": """邮政营业网点信息|Post Offices|F|T19|irregular|邮政,网点|邮政所
快递业务量统计|Parcel Delivery Statistics|S|T14|monthly|快递,邮政|快递业务量:万件""",
    "survey": """居民人均可支配收入|Per Capita Disposable Income|S|T12|quarterly|收入,居民|城镇居民:元,农村居民:元""",
    "fire": """消防救援站信息|Fire Stations|F|T04|yearly|消防,救援|消防救援站
微型消防站信息|Mini Fire Stations|F|T04|yearly|消防,社区|微型消防站
火灾统计|Fire Statistics|S|T04|monthly|消防,火灾|火灾:起""",
    "tobacco": """烟草专卖零售许可信息|Tobacco Retail Licences|R|T15|monthly|烟草,许可|烟草零售""",
    "metro": """地铁站点信息|Metro Stations|F|T06|irregular|地铁,交通|地铁站
地铁站出入口信息|Metro Station Entrances|F|T06|irregular|地铁,出入口|出入口
地铁客运量统计|Metro Ridership Statistics|S|T06|daily|地铁,客流|客运量:万人次""",
    "water_supply": """供水营业网点信息|Water Supply Service Points|F|T19|irregular|供水,水务|供水营业厅
出厂水水质公示|Treated Water Quality|M|T10|monthly|供水,水质|浊度:NTU,余氯:mg/L""",
    "power": """供电营业厅信息|Electricity Service Halls|F|T09|irregular|供电,电力|供电营业厅
全社会用电量统计|Electricity Consumption Statistics|S|T09|monthly|用电,能源|用电量:亿千瓦时
计划停电信息|Planned Power Outages|R|T09|daily|停电,电力|计划停电""",
    "gas": """燃气营业网点信息|Gas Service Points|F|T09|irregular|燃气,能源|燃气营业厅
天然气加气站信息|Natural Gas Filling Stations|F|T09|irregular|燃气,加气|加气站""",
    "bus": """公交线路信息|Bus Routes|L|T06|monthly|公交,线路|常规公交,夜间公交
公交客运量统计|Bus Ridership Statistics|S|T06|monthly|公交,客流|客运量:万人次
公交场站信息|Bus Depots and Terminals|F|T06|yearly|公交,场站|公交场站,首末站""",
    "rail": """铁路客运站信息|Railway Stations|F|T06|irregular|铁路,车站|火车站
铁路旅客发送量统计|Railway Passenger Statistics|S|T06|monthly|铁路,客流|旅客发送量:万人次""",
    "urban_invest": """城市桥梁隧道信息|Urban Bridges and Tunnels|F|T05|yearly|桥梁,隧道|桥梁,隧道
城市道路信息|Urban Roads|L|T05|yearly|道路,城建|主干路,次干路""",
    "union": """职工服务阵地信息|Worker Service Sites|F|T03|yearly|工会,职工|职工之家,户外劳动者爱心驿站""",
    "youth": """青年之家信息|Youth Homes|F|T22|yearly|青年,共青团|青年之家""",
    "women": """妇女儿童之家信息|Women and Children Homes|F|T17|yearly|妇女,儿童|妇女儿童之家""",
    "scitech": """科普教育基地名录|Science Education Bases|F|T08|yearly|科普,科技|科普教育基地""",
    "disabled": """残疾人康复机构名录|Disability Rehabilitation Institutions|F|T17|yearly|残疾人,康复|康复机构""",
    "redcross": """红十字救护培训统计|Red Cross First-aid Training Statistics|S|T02|yearly|救护,培训|培训:人次""",
    "chamber": """商会名录|Chambers of Commerce|R|T22|yearly|商会,企业|异地商会,行业商会""",
    "overseas": """侨资企业名录|Overseas Chinese-funded Enterprises|R|T14|yearly|侨资,企业|侨资企业""",
    "arts": """文艺家协会名录|Literary and Art Associations|L|T07|irregular|文艺,协会|文艺家协会
文艺惠民演出信息|Public Cultural Performances|R|T07|monthly|文艺,演出|惠民演出""",
}

# Department code → (weight, families).  Codes and names come from ontology/departments.ttl.
PROFILES: dict[str, tuple[int, tuple[str, ...]]] = {
    "D001": (14, ("data",)), "D002": (10, ("office",)), "D003": (24, ("development",)),
    "D004": (48, ("education",)), "D005": (20, ("science",)), "D006": (22, ("economy",)),
    "D007": (5, ("religion",)), "D008": (42, ("police",)), "D009": (40, ("civil",)),
    "D010": (18, ("justice",)), "D011": (20, ("finance",)), "D012": (42, ("labour",)),
    "D013": (50, ("landplan",)), "D014": (40, ("environment",)), "D015": (34, ("housing",)),
    "D016": (32, ("urban",)), "D017": (50, ("transport",)), "D018": (26, ("water",)),
    "D019": (30, ("agri",)), "D020": (26, ("commerce",)), "D021": (34, ("culture",)),
    "D022": (44, ("health",)), "D023": (6, ("veterans",)), "D024": (22, ("emergency",)),
    "D025": (5, ("audit",)), "D026": (3, ("foreign",)), "D027": (6, ("soe",)),
    "D028": (48, ("market",)), "D029": (14, ("sports",)), "D030": (30, ("statistics",)),
    "D031": (18, ("garden",)), "D032": (16, ("medins",)), "D033": (6, ("civildef",)),
    "D034": (4, ("offices",)), "D035": (3, ("report",)), "D036": (26, ("traffic",)),
    "D037": (20, ("trading",)), "D038": (10, ("fund",)), "D039": (4, ("chronicle",)),
    "D040": (5, ("archives",)), "D041": (6, ("geo",)), "D042": (8, ("geo",)), "D043": (5, ("geo",)),
    "D044": (8, ("cdc",)), "D045": (5, ("ambulance",)), "D046": (4, ("blood",)),
    "D047": (5, ("library",)), "D048": (4, ("museum",)), "D049": (3, ("museum",)),
    "D050": (3, ("library",)), "D051": (4, ("edu_research",)), "D052": (6, ("traffic_research",)),
    "D053": (3, ("garden_research",)), "D054": (5, ("talent",)), "D055": (3, ("welfare",)),
    "D056": (3, ("relief",)), "D057": (4, ("agri_research",)), "D058": (4, ("animal",)),
    "D059": (3, ("museum",)), "D077": (10, ("weather",)), "D078": (10, ("tax",)),
    "D079": (6, ("customs",)), "D080": (5, ("post",)), "D081": (4, ("survey", "statistics")),
    "D082": (8, ("fire",)), "D083": (3, ("tobacco",)), "D084": (8, ("metro",)),
    "D085": (5, ("water_supply",)), "D086": (5, ("power",)), "D087": (4, ("gas",)),
    "D088": (6, ("bus",)), "D089": (4, ("rail",)), "D090": (4, ("urban_invest",)),
    "D091": (3, ("union",)), "D092": (3, ("youth",)), "D093": (3, ("women",)), "D094": (3, ("scitech",)),
    "D095": (3, ("disabled",)), "D096": (3, ("redcross",)), "D097": (3, ("chamber",)), "D098": (2, ("overseas",)),
    "D099": (2, ("arts",)),
}
for _code in (*DISTRICT_GOVERNMENTS, *ZONES):
    PROFILES[_code] = (12 if _code in DISTRICT_GOVERNMENTS else 8,
                       ("district", "civil", "urban", "education", "market", "agri"))


def _subjects(text: str) -> tuple[Subject, ...]:
    out = []
    for line in text.strip().splitlines():
        zh, en, kind, theme, cycle, keywords, items = line.split("|")
        out.append(Subject(zh, en, kind, theme, cycle, tuple(keywords.split(",")), tuple(items.split(","))))
    return tuple(out)


SUBJECTS: dict[str, tuple[Subject, ...]] = {name: _subjects(text) for name, text in FAMILIES.items()}
SUBJECT_BY_ZH: dict[str, Subject] = {s.zh: s for group in SUBJECTS.values() for s in group}

# Words for generated rows.
COMPANY_WORDS = "恒信 华创 楚天 江城 鑫源 汉江 东方 长盛 荆楚 光谷 晴川 黄鹤 东湖 知音 金桥 汇通 天成 博雅 中建 九州".split()
INDUSTRIES = "科技 商贸 餐饮管理 物业服务 建设工程 医药 物流 信息技术 文化传媒 环保科技 教育咨询 机电设备".split()
STATUSES = ("有效", "有效", "有效", "已修订", "已废止")
