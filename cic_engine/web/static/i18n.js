// The staff pages' words in the agent's language (en, zh-CN). English is the key: a page's own
// text is English, and a missing translation shows English rather than nothing. The agent picks
// the language (kept in this browser); the first visit follows the browser's.
"use strict";

const CIC_ZH = {
  // The softphone
  "Phone": "电话", "Phone offline": "电话未连接", "Phone connecting": "电话连接中", "Phone ready": "电话就绪",
  "Answer": "接听", "Decline": "拒接", "Mute": "静音", "Unmute": "取消静音", "Keypad": "拨号盘",
  "Audio devices": "音频设备", "Microphone": "麦克风", "Speaker": "扬声器", "Default": "默认", "Caller": "来电者",
  "Incoming call: {who}": "来电：{who}", "The call was lost": "通话已中断",
  "Video calls: show and send my camera": "视频通话：显示对方画面并发送我的摄像头", "On a call: {who}": "通话中：{who}",
  "The switch refused the phone ({cause})": "交换机拒绝了电话注册（{cause}）",
  "The microphone is blocked: allow it for this site, then take the next call": "麦克风被阻止：请允许本网站使用麦克风，然后接听下一通电话",
  // Logging in and the header
  "Agent inbox": "坐席工作台", "Department cases": "部门工单", "Login": "账号", "Password": "密码", "Log in": "登录",
  "Log out": "退出", "My state": "我的状态", "live updates": "实时更新", "offline": "离线", "live": "已连接",
  "reconnecting": "重新连接中", "Phone number": "电话号码", "Number to call": "要拨打的号码", "Call": "拨打",
  "Board": "监控看板", "Inbox": "工作台", "Language": "语言", "Keyboard shortcuts": "快捷键",
  "Available": "空闲", "Busy": "忙碌", "Wrap-up": "话后整理", "Away": "离开", "Offline": "离线",
  "Away: {reason}": "离开：{reason}", "Away (supervisor)": "离开（主管设置）",
  "break": "休息", "lunch": "午餐", "meeting": "会议", "training": "培训", "coaching": "辅导",
  "missed-offers": "漏接分配", "supervisor": "主管", "disconnected": "连接中断",
  "Notify me of offers": "新分配时提醒我", "New offer": "新的分配", "{n} new": "{n} 条新",
  "{channel} from {who}": "{who} 的{channel}",
  // The lists
  "Search customers, tickets, messages": "搜索客户、工单、消息", "Search": "搜索", "Customers": "客户",
  "Interactions": "会话", "Offers": "待接受", "My work": "我的会话", "Accept": "接受", "Reject": "拒绝",
  "Customer": "客户", "(no name)": "（无名）", "All": "全部", "Newest first": "最新优先",
  "standard": "普通", "silver": "银卡", "gold": "金卡", "vip": "VIP", "Waiting longest first": "等待最久优先",
  "Channel": "渠道", "State": "状态", "Queue": "队列", "Filter": "筛选", "No conversations": "没有会话",
  "voice": "电话", "email": "邮件", "sms": "短信", "chat": "在线聊天", "fax": "传真",
  "Being offered": "分配中", "Active": "处理中", "Closed": "已结束",
  "{n} s": "{n} 秒", "{m} min {s} s": "{m} 分 {s} 秒",
  // A conversation
  "Hold": "保持", "Resume": "恢复", "Record": "录音", "Stop recording": "停止录音",
  "Transfer or conference to": "转接或会议至", "queue": "队列", "agent": "坐席", "number": "号码",
  "queue, agent login or number": "队列、坐席账号或号码", "Target": "目标", "Transfer call": "转接通话",
  "Consult": "咨询", "Complete transfer": "完成转接", "Cancel consult": "取消咨询", "Conference": "会议",
  "Hang up": "挂断", "Dial": "拨号", "Timeline": "时间线", "The customer is typing…": "客户正在输入…",
  "Reply to the customer": "回复客户", "Reply": "回复", "Canned response": "快捷回复", "Canned response…": "快捷回复…",
  "Reply by": "回复方式", "Attach": "附件", "Attach files": "添加附件", "Send": "发送",
  "Add internal note": "添加内部备注", "Internal note": "内部备注", "Transfer to": "转接至",
  "agent login (optional)": "坐席账号（选填）", "Transfer to agent": "转接给坐席", "Transfer": "转接", "End": "结束",
  "Disposition": "处理结果", "Finish wrap-up": "完成整理", "Closes by itself in {s} s": "{s} 秒后自动结束",
  "Integrations": "系统集成", "API tokens": "API 令牌", "Integration": "集成系统", "Scopes": "权限范围",
  "Created": "创建时间", "Last used": "最近使用", "Create token": "创建令牌", "Webhooks": "Webhook 推送",
  "Address": "地址", "Events": "事件", "Subscribe": "订阅", "Deliveries": "推送记录", "Webhook": "Webhook",
  "Event": "事件", "Time": "时间", "Revoke": "吊销", "revoked": "已吊销", "active": "生效中", "paused": "已暂停",
  "Replay": "重新推送", "pending": "待发送", "sending": "发送中", "sent": "已送达", "failed": "失败",
  "Delivery {id} sent again as {new}": "推送 {id} 已重新发送（新编号 {new}）",
  "Token for {name} (shown only now: keep it in the integration's secret store):":
    "{name} 的令牌（仅显示这一次，请保存到该系统的密钥存储中）：",
  "Signing secret of {name} (shown only now: the receiver checks signatures with it):":
    "{name} 的签名密钥（仅显示这一次，接收方用它校验签名）：",
  "Looking up the CRM…": "正在查询 CRM…", "CRM unavailable": "CRM 暂不可用", "Open in {name}": "在 {name} 中打开",
  "Open cases": "未结工单", "Open a case": "新建工单", "Category": "类别", "Severity": "严重程度",
  "What the customer reports": "客户反映的问题", "Description": "描述", "Open case": "创建工单", "History": "历史",
  "Show formatted": "显示原格式", "View fax": "查看传真", "Forwarded message: {subject}": "转发的邮件：{subject}",
  "(no subject)": "（无主题）", "From: {from} · Date: {date}": "发件人：{from} · 日期：{date}",
  "Attachments in it: {names}": "其中的附件：{names}", "says they are {email} (not verified)": "自称是 {email}（未验证）",
  "{channel} with {who}": "与 {who} 的{channel}", "queue {name}": "队列 {name}", "Agent": "坐席",
  "note": "备注", "recording: {name}": "录音：{name}", "due": "到期", "reopened": "已重开",
  "Note added": "备注已添加", "This conversation is over: read only.": "此会话已结束，仅供查看。",
  "Not yours: read only.": "不是您的会话，仅供查看。", "Notes": "备注",
  // Keyboard
  "Accept the first offer": "接受第一个分配", "Go to the reply box": "跳到回复框", "Send the reply": "发送回复",
  "Next conversation": "下一个会话", "Previous conversation": "上一个会话", "End the conversation": "结束会话",
  "Search box": "搜索框", "This list": "本列表", "Close": "关闭",
  // The board
  "Queues": "队列", "Waiting": "等待中", "Longest wait": "最长等待", "Service level": "服务水平", "ASA": "平均应答时间",
  "Answered": "已接听", "Abandoned": "放弃", "Agents": "坐席", "Since": "起始时间", "Holding": "处理中",
  "Set state": "设置状态", "Live call": "通话监控", "#": "#", "Move to": "移至", "Assign to": "分配给",
  "Rejected contacts": "被拒收的联系", "(could not be taken in; kept with their bytes)": "（无法接收，原始数据已保存）",
  "When": "时间", "From": "来源", "Why": "原因", "Take in again": "重新接收", "KPIs": "关键指标",
  "(last 24 hours)": "（最近 24 小时）", "Per": "间隔", "15 min": "15 分钟", "hour": "小时", "day": "天",
  "By": "维度", "queue and channel": "队列和渠道", "channel": "渠道", "Download CSV": "下载 CSV",
  "Contacts offered and service level per interval": "各时段进线量与服务水平", "Interval": "时段", "Key": "项目",
  "Offered": "进线", "AHT": "平均处理时长", "FCR": "首次解决率", "Transfers": "转接", "Occupancy": "占用率",
  "Staffed": "在岗坐席", "Erlang C": "Erlang C", "Cases": "工单", "(last 30 days)": "（最近 30 天）",
  "Department": "部门", "Open": "未结", "< 1 day": "< 1 天", "1-3 days": "1-3 天", "3-7 days": "3-7 天",
  "> 7 days": "> 7 天", "Breached": "已超时", "Resolved": "已解决", "Hours to resolve (avg / median)": "解决时长（小时，平均 / 中位）",
  "Reopen rate": "重开率", "Satisfaction": "满意度", "(last 30 days, 1-5)": "（最近 30 天，1-5 分）", "Who": "对象",
  "Answers": "回答数", "Average": "平均分", "Satisfied (4-5)": "满意（4-5 分）", "Campaigns": "外呼/营销活动",
  "Campaign": "活动", "Contacts": "联系人", "Attempts": "尝试次数", "Reached": "接通", "Conversions": "转化",
  "Replies": "回复", "New campaign": "新建活动", "Name": "名称", "Title": "标题", "Mode": "模式",
  "progressive": "渐进式", "predictive": "预测式", "preview": "预览式", "to": "至", "mon": "一", "tue": "二",
  "wed": "三", "thu": "四", "fri": "五", "sat": "六", "sun": "日", "Max abandoned": "最大放弃率",
  "Subject (email)": "主题（邮件）", "Template (SMS, email)": "模板（短信、邮件）", "Hi {name}, ...": "{name} 您好，……",
  "Script (calls)": "话术（电话）", "sale, upgrade": "成交, 升级", "Create": "创建",
  "Import a list (CSV) into": "导入名单（CSV）至", "Contact list": "联系人名单", "Import": "导入",
  "Do not contact": "勿扰名单", "phone or email": "电话或邮箱", "reason": "原因", "Reason": "原因", "Add": "添加",
  "Operations": "运行状态", "Adapter": "适配器", "Kind": "类型", "Last error": "最近错误", "Counters": "计数",
  "Loaded configuration (secrets masked)": "已加载的配置（密钥已隐藏）", "since {when}": "自 {when} 起",
  "{pct}% (target {target}% in {s} s)": "{pct}%（目标：{s} 秒内 {target}%）", "{pct}% (target {target}%)": "{pct}%（目标 {target}%）",
  "Listen": "监听", "Whisper": "耳语", "Barge": "强插", "Requested…": "已请求…", "Re-ingest": "重新接收",
  "Dismiss": "忽略", "Pause": "暂停", "Start": "开始", "No data in this period": "此时段没有数据",
  "Contacts offered": "进线量", "Service level (%)": "服务水平（%）",
  "node {node}: {status}": "节点 {node}：{status}", "not reloaded since it started": "启动后未重新加载",
  "campaign created (paused): import its list, then start it": "活动已创建（暂停中）：请导入名单后开始",
  "{value} is on the do-not-contact list": "{value} 已加入勿扰名单",
  "{summary}: {added} added, {already} already in the campaign": "{summary}：新增 {added}，已在活动中 {already}",
  "row {row}: {problem}": "第 {row} 行：{problem}", "attempt {n}": "第 {n} 次尝试",
  "no SMS channel is configured": "未配置短信渠道", "no email channel is configured": "未配置邮件渠道",
  "Only for agents with this role": "仅限该角色",
  // Department cases
  "closed too": "包括已关闭", "Conversation": "对话", "Status": "状态", "Note (optional)": "备注（选填）",
  "Note for the status change": "状态变更备注", "Change status": "变更状态", "Add note": "添加备注",
  "Question for the customer": "向客户提问", "Ask the customer": "询问客户",
  "Resolution, as the customer will read it": "解决方案（客户将看到）", "Resolution": "解决方案", "Resolve": "解决",
  "Case #{id} · {category}": "工单 #{id} · {category}", "customer {id}": "客户 {id}", "us": "我方",
};

const CIC_LANGUAGES = { en: "English", "zh-CN": "中文" };

function cicLang() {
  const kept = localStorage.getItem("cic-lang");
  if (kept && CIC_LANGUAGES[kept]) return kept;
  return /^zh/i.test(navigator.language || "") ? "zh-CN" : "en";
}

// The words for `english` in the agent's language, with {name} filled in from params.
function t(english, params) {
  let text = cicLang() === "zh-CN" ? (CIC_ZH[english] || english) : english;
  for (const [k, v] of Object.entries(params || {})) text = text.split(`{${k}}`).join(String(v));
  return text;
}

// A date and time, a number, in the agent's language's way.
function cicWhen(iso) {
  return iso ? new Date(iso).toLocaleString(cicLang(), { dateStyle: "short", timeStyle: "short" }) : "";
}

function cicSeconds(s) {
  if (s === null || s === undefined) return "-";
  s = Math.round(s);
  return s < 60 ? t("{n} s", { n: s }) : t("{m} min {s} s", { m: Math.floor(s / 60), s: s % 60 });
}

// The page's own words, put in the agent's language once, before anything from customers is
// on it. An <option> keeps its English as its value.
function cicTranslatePage(root) {
  document.documentElement.lang = cicLang();
  if (cicLang() === "en") return;
  const walker = document.createTreeWalker(root || document.body, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const english = node.nodeValue.trim().replace(/\s+/g, " ");
    if (!english || !CIC_ZH[english]) continue;
    const parent = node.parentElement;
    if (parent && parent.tagName === "OPTION" && !parent.hasAttribute("value")) parent.value = english;
    node.nodeValue = node.nodeValue.replace(node.nodeValue.trim(), CIC_ZH[english]);
  }
  for (const attr of ["placeholder", "aria-label", "title"]) {
    for (const node of (root || document.body).querySelectorAll(`[${attr}]`)) {
      const english = node.getAttribute(attr);
      if (CIC_ZH[english]) node.setAttribute(attr, CIC_ZH[english]);
    }
  }
}

// The language picker of a page: the choice is kept in this browser, and the page reloads in it.
function cicLanguagePicker(select) {
  select.replaceChildren(...Object.entries(CIC_LANGUAGES).map(([value, label]) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    return o;
  }));
  select.value = cicLang();
  select.onchange = () => {
    localStorage.setItem("cic-lang", select.value);
    location.reload();
  };
}
