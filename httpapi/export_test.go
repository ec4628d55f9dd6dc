package httpapi

// LoginCookie is the login cookie's name, for the external tests.
const LoginCookie = loginCookie
