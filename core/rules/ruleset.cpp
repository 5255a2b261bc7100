#include "ruleset.h"

#include "networkpreset.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

namespace {

// The strings of a list under key, each with where it is; false with what
// is wrong in *error.
bool readList(const QJsonObject &object, const char *key, QList<RuleSet::Text> *into, QString *error)
{
    const QJsonValue value = object.value(QLatin1String(key));
    if (value.isUndefined())
        return true;
    if (!value.isArray()) {
        *error = QStringLiteral("\"%1\" must be a list of strings").arg(QLatin1String(key));
        return false;
    }
    const QJsonArray items = value.toArray();
    for (qsizetype i = 0; i < items.size(); ++i) {
        if (!items[i].isString()) {
            *error = QStringLiteral("\"%1\"[%2] is not a string").arg(QLatin1String(key)).arg(i);
            return false;
        }
        into->append({QStringLiteral("\"%1\"[%2]").arg(QLatin1String(key)).arg(i), items[i].toString()});
    }
    return true;
}

template<typename Rule>
bool parseEach(const QList<RuleSet::Text> &texts, QList<Rule> *into, QString *error)
{
    for (const RuleSet::Text &text : texts) {
        Rule rule;
        QString why;
        if (!Rule::parse(text.text, &rule, &why)) {
            *error = QStringLiteral("%1 '%2': %3").arg(text.where, text.text, why);
            return false;
        }
        into->append(rule);
    }
    return true;
}

} // namespace

bool RuleSet::addTexts(const QList<Text> &conditionTexts, const QList<Text> &faultTexts, QString *error)
{
    RuleSet added;
    if (!parseEach(conditionTexts, &added.conditions, error) || !parseEach(faultTexts, &added.faults, error))
        return false;
    append(added);
    return true;
}

bool RuleSet::parse(const QByteArray &json, RuleSet *rules, QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        *error = QStringLiteral("not JSON at byte %1: %2").arg(parseError.offset).arg(parseError.errorString());
        return false;
    }
    if (!document.isObject()) {
        *error = QStringLiteral("not a JSON object with \"conditions\" and \"faults\"");
        return false;
    }
    const QJsonObject object = document.object();
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (it.key() != u"preset" && it.key() != u"conditions" && it.key() != u"faults") {
            *error = QStringLiteral("unknown key \"%1\" (preset, conditions, faults)").arg(it.key());
            return false;
        }
    }
    RuleSet parsed;
    const QJsonValue preset = object.value(QLatin1String("preset"));
    if (!preset.isUndefined()) {
        const NetworkPreset *found = preset.isString() ? NetworkPreset::find(preset.toString()) : nullptr;
        if (!found) {
            *error = QStringLiteral("\"preset\": no preset is called '%1' (%2)")
                         .arg(preset.toVariant().toString(), NetworkPreset::names());
            return false;
        }
        parsed.conditions = found->rules();
    }
    QList<Text> conditionTexts;
    QList<Text> faultTexts;
    if (!readList(object, "conditions", &conditionTexts, error) || !readList(object, "faults", &faultTexts, error)
        || !parsed.addTexts(conditionTexts, faultTexts, error))
        return false;
    *rules = parsed;
    return true;
}

bool RuleSet::load(const QString &path, RuleSet *rules, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return false;
    }
    QString why;
    if (!parse(file.readAll(), rules, &why)) {
        *error = QStringLiteral("%1: %2").arg(path, why);
        return false;
    }
    return true;
}

void RuleSet::append(const RuleSet &other)
{
    conditions.append(other.conditions);
    faults.append(other.faults);
}

void RuleSet::prepare()
{
    for (ConditionRule &rule : conditions)
        rule.makePacers();
    for (FaultRule &rule : faults) {
        if (rule.http)
            rule.http->countAfresh();
    }
}
