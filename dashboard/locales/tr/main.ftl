# Personel paneli — Türkçe. Anahtar kümesi en/main.ftl ile aynı olmalı (test denetler).

app-name = CRM

## Kabuk
skip-to-content = İçeriğe geç
nav-label = Ana menü
nav-toggle = Menüyü aç
nav-close = Menüyü kapat
search-label = Müşteri ara
search-placeholder = Ad, telefon ya da e-posta
theme-toggle = Açık / koyu tema
user-menu = Hesap menüsü
menu-preferences = Tercihler
menu-password = Parolayı değiştir
menu-tokens = API anahtarları
menu-signout = Çıkış yap
toasts-label = Bildirimler
toast-close = Kapat

## Modüller
nav-home = Ana sayfa
nav-pipeline = Satış hattı
nav-customers = Müşteriler
nav-users = Kullanıcılar
nav-roles = Roller
nav-teams = Ekipler
nav-audit = Denetim kaydı

## Ortak
field-email = E-posta
field-password = Parola
field-name = Ad soyad
field-new-password = Yeni parola
field-password-confirm = Yeni parola (tekrar)
field-current-password = Mevcut parola
password-hint = En az { $min } karakter. Uzun bir cümle, kısa ve karmaşık bir paroladan daha güvenlidir.
form-has-errors = Formda düzeltilmesi gereken alanlar var.
back-to-login = Oturum açma sayfasına dön
save = Kaydet
cancel = Vazgeç
wait-seconds = { $count ->
    [one] { $n } saniye
   *[other] { $n } saniye
}
wait-minutes = { $count ->
    [one] { $n } dakika
   *[other] { $n } dakika
}

## Alan hataları
err-required = Bu alan zorunlu.
err-email = Geçerli bir e-posta adresi girin (ör. ad@firma.com).
err-password-short = Parola en az { $min } karakter olmalı.
err-password-mismatch = İki parola birbirini tutmuyor.
err-password-same = Yeni parola mevcut paroladan farklı olmalı.
err-setup-code = Kurulum kodu hatalı. Sunucu günlüğündeki kodu olduğu gibi yazın.
err-current-password = Mevcut parola hatalı.

## Oturum açma
login-title = Oturum aç
login-lead = Şirket e-posta adresiniz ve parolanızla girin.
login-submit = Oturum aç
login-failed = E-posta ya da parola hatalı.
login-throttled = Çok fazla başarısız deneme oldu. Lütfen { $wait } sonra yeniden deneyin.
login-forgot = Parolanızı mı unuttunuz? Yöneticinizden yeni bir sıfırlama bağlantısı isteyin.

## İlk kurulum
setup-title = İlk kurulum
setup-lead = Bu sunucuda henüz kullanıcı yok. İlk yönetici hesabını oluşturun.
field-setup-code = Kurulum kodu
setup-code-hint = Sunucu ilk açılışta bu kodu günlüğe yazdı.
setup-submit = Yönetici hesabını oluştur

## Parola sıfırlama
reset-title = Yeni parola belirleyin
reset-lead = Bu bağlantı tek kullanımlıktır. Yeni parolanızı iki kez yazın.
reset-submit = Parolayı kaydet
reset-expired = Bu bağlantının süresi dolmuş ya da daha önce kullanılmış. Yöneticinizden yeni bir bağlantı isteyin.

## Parola değiştirme
password-title = Parolayı değiştir
password-lead = Değişiklikten sonra diğer cihazlardaki oturumlarınız kapanır.
password-submit = Parolayı değiştir

## Hata sayfaları
error-home = Ana sayfaya dön
error-403-title = Bu sayfaya erişiminiz yok
error-403-text = Rolünüz bu bölümü açmaya izin vermiyor. Erişim gerekiyorsa yöneticinize başvurun.
error-404-title = Sayfa bulunamadı
error-404-text = Aradığınız sayfa taşınmış ya da silinmiş olabilir. Adresi denetleyin ya da ana sayfadan devam edin.
error-500-title = Bir şeyler ters gitti
error-500-text = İsteğiniz tamamlanamadı. Biraz sonra yeniden deneyin; sorun sürerse yöneticinize haber verin.

## Arama
search-title = Arama
search-count = { $count ->
    [0] Müşteri bulunamadı
    [one] { $n } müşteri bulundu
   *[other] { $n } müşteri bulundu
}
search-shown = { $count ->
    [one] İlk sonuç gösteriliyor. Aramayı daraltın.
   *[other] İlk { $n } sonuç gösteriliyor. Aramayı daraltın.
}
search-start-title = Bir müşteri arayın
search-start-hint = Üstteki kutuya ad, telefon ya da e-posta yazın. / tuşu sizi doğrudan oraya götürür.
search-no-results = “{ $q }” ile eşleşen müşteri yok
search-no-results-hint = Telefonu herhangi bir biçimde (0532 123 45 67, +90 532…) ya da e-posta adresini deneyin.
col-name = Ad
col-phone = Telefon
col-email = E-posta
col-stage = Aşama

## Ana sayfa
home-title = Ana sayfa
home-greeting = Merhaba, { $name }
home-lead = Buradan başlayın: bir müşteri bulun, satış hattına bakın ya da tercihlerinizi ayarlayın.
home-hint-search-title = Müşteri bulun
home-hint-search = Ad, telefon ya da e-posta ile arayın. Kısayol: /
home-hint-pipeline-title = Satış hattını açın
home-hint-pipeline = Müşterileri aşamalarına göre görün ve bir sonraki adıma taşıyın.
home-hint-prefs-title = Tercihlerinizi ayarlayın
home-hint-prefs = Dil, tema ve saat dilimi.
home-today = Bugün
home-today-empty = Bugün için bekleyen iş yok
home-today-hint = Hatırlatmalar ve randevular geldikçe burada listelenecek.

## Tercihler
prefs-title = Tercihler
prefs-lead = Bu ayarlar yalnızca sizin hesabınız için geçerlidir.
prefs-language = Dil
lang-tr = Türkçe
lang-en = English
prefs-theme = Tema
theme-light = Açık
theme-dark = Koyu
theme-system = Sistem
prefs-theme-hint = “Sistem”, cihazınızın açık ya da koyu ayarını izler.
prefs-timezone = Saat dilimi
prefs-timezone-hint = Tarih ve saatler bu dilime göre gösterilir.
tz-europe-istanbul = İstanbul (UTC+3)
tz-utc = UTC (Eş Güdümlü Evrensel Saat)
tz-europe-london = Londra
tz-europe-berlin = Berlin
tz-asia-dubai = Dubai (UTC+4)

## Bildirimler
toast-prefs-saved = Tercihleriniz kaydedildi.
toast-password-changed = Parolanız değiştirildi.
err-password-common = Bu parola yaygın parolalar listesinde; başka bir parola seçin.
err-password-personal = Parola e-posta adresiniz ya da adınız olamaz.
err-password-pattern = Parola tek bir karakterin tekrarı ya da basit bir dizi olamaz.
err-password-long = Parola en fazla 256 karakter olabilir.

customers-title = Müşteriler
customers-scope-all = Tüm müşteriler.
customers-scope-team = Ekiplerinizin müşterileri ve rolünüzün görebildiği atanmamış müşteriler.
customers-scope-own = Sahibi ya da atananı olduğunuz müşteriler.
customers-empty-title = Henüz burada müşteri yok
customers-empty-hint = Formlardan, Meta'dan ve WhatsApp'tan gelen yeni müşteriler size atandığında burada görünür; atamayı bir yönetici yapar.
customers-more = Daha fazla göster
users-title = Kullanıcılar
users-lead = CRM'de kimlerin çalıştığı, rolleri ve ekipleri. Tasfiye, bir kullanıcının müşterilerini tek adımda bir iş arkadaşına devreder.
col-role = Rol
col-teams = Ekipler
col-state = Durum
col-actions = İşlemler
user-active = Etkin
user-disabled = Devre dışı
offboard-to = İşlerini devret
offboard-choose = Devredilecek kişi…
offboard-submit = Tasfiye et
offboard-done = { $name } tasfiye edildi: { $customers } müşteri { $to } adlı kişiye devredildi; { $sessions } oturum ve { $tokens } anahtar sonlandırıldı.
users-new = Kullanıcı ekle
field-temporary-password = Geçici parola
users-temporary-hint = İlk girişte kendi parolasını seçer.
users-create = Kullanıcıyı oluştur
toast-user-created = Kullanıcı oluşturuldu.
