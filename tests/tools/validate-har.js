// Checks a HAR file against the HAR 1.2 schema (har-validator, as HAR
// tools use it). Usage: node validate-har.js FILE. Exit 0 when valid; else
// the schema's complaints on stderr and exit 1.
'use strict';
const fs = require('fs');
const validator = require('har-validator');

const data = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
validator.har(data).then(() => {
    console.log('valid HAR 1.2: ' + data.log.entries.length + ' entries');
}).catch((error) => {
    console.error(JSON.stringify(error.errors || error.message, null, 1));
    process.exit(1);
});
